import Database from '../../common/sqlite-database.js';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { TamtamError, wrapError } from '../../protocol/errors.js';
import type { ReceiptEntry, RecordOutcome } from '../../protocol/sdc/receipt.js';
import { emptyUsage, type LinkUsage } from '../link/link.js';

/** Milliseconds since the epoch; injected so tests control time. */
export type Clock = () => number;

/**
 * packing: journal written, file maybe not; packed: file in the outbox;
 * receipted: receipt journaled, statuses maybe not moved yet; done: receipt
 * applied; abandoned: file lost before it was sent, records re-packed elsewhere.
 */
export type SdcState = 'packing' | 'packed' | 'receipted' | 'done' | 'abandoned';
export const OPEN_STATES: readonly SdcState[] = ['packing', 'packed'];

export interface SdcRecord {
  sequence: number;
  kind: string;
  table: string;
  count: number;
  file: string;
  state: SdcState;
  bytes: number | null;
  createdAt: number;
  packedAt: number | null;
  sentAt: number | null;
  receiptAt: number | null;
  /** accepted or refused, from the hub's receipt. */
  outcome: string | null;
  reason: string | null;
  replacedBy: number | null;
}

export interface JournalEntry {
  table: string;
  numero: number;
  version: number;
  /** 0 for a record refused by the agent itself (it cannot fit in an SDC). */
  sequence: number;
  outcome: RecordOutcome | null;
  reason: string | null;
  applied: boolean;
}

/** A record's newest journal entry, with the state of the SDC it went in. */
export interface LatestEntry extends JournalEntry {
  sdcState: SdcState | null;
}

export interface UsageRow extends LinkUsage {
  link: string;
  day: string;
}

/** Schema steps; user_version counts those applied. Times are milliseconds since the epoch. */
const MIGRATIONS = [`
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE sdcs (
    sequence INTEGER PRIMARY KEY, kind TEXT NOT NULL, table_name TEXT NOT NULL, count INTEGER NOT NULL, file TEXT NOT NULL,
    state TEXT NOT NULL, bytes INTEGER, created_at INTEGER NOT NULL, packed_at INTEGER, sent_at INTEGER, receipt_at INTEGER,
    outcome TEXT, reason TEXT, replaced_by INTEGER);
  CREATE INDEX sdcs_by_state ON sdcs (state);
  CREATE TABLE journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT, table_name TEXT NOT NULL, numero INTEGER NOT NULL, version INTEGER NOT NULL,
    sequence INTEGER NOT NULL, outcome TEXT, reason TEXT, applied INTEGER NOT NULL DEFAULT 0,
    UNIQUE (sequence, table_name, numero));
  CREATE INDEX journal_by_record ON journal (table_name, numero, id);
  CREATE INDEX journal_unapplied ON journal (sequence) WHERE applied = 0 AND outcome IS NOT NULL;
  CREATE TABLE versions (table_name TEXT NOT NULL, numero INTEGER NOT NULL, last_version INTEGER NOT NULL, PRIMARY KEY (table_name, numero)) WITHOUT ROWID;
  CREATE TABLE usage (
    link TEXT NOT NULL, day TEXT NOT NULL, bytes_up INTEGER NOT NULL, bytes_down INTEGER NOT NULL, messages_up INTEGER NOT NULL,
    messages_down INTEGER NOT NULL, sessions INTEGER NOT NULL, PRIMARY KEY (link, day)) WITHOUT ROWID;
`, `
  ALTER TABLE usage ADD COLUMN airtime_ms INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE usage ADD COLUMN cost_usd REAL NOT NULL DEFAULT 0;
`];

type Row = Record<string, unknown>;
const sdcOf = (r: Row): SdcRecord => ({
  sequence: r.sequence as number, kind: r.kind as string, table: r.table_name as string, count: r.count as number, file: r.file as string,
  state: r.state as SdcState, bytes: r.bytes as number | null, createdAt: r.created_at as number, packedAt: r.packed_at as number | null,
  sentAt: r.sent_at as number | null, receiptAt: r.receipt_at as number | null, outcome: r.outcome as string | null, reason: r.reason as string | null,
  replacedBy: r.replaced_by as number | null,
});
const entryOf = (r: Row): JournalEntry => ({
  table: r.table_name as string, numero: r.numero as number, version: r.version as number, sequence: r.sequence as number,
  outcome: r.outcome as RecordOutcome | null, reason: r.reason as string | null, applied: r.applied === 1,
});

/**
 * The agent's own SQLite (state.db): sequences, SDCs, the per-record journal,
 * record versions and link usage. WAL with synchronous=FULL, so a commit
 * survives a power cut: the status machine's crash safety rests on it.
 */
export class AgentState {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly db: Database.Database, readonly clock: Clock) {}

  /** `cacheKb`: SQLite's page cache; default 2000 KB. */
  static open(path: string, opts: { clock?: Clock; cacheKb?: number } = {}): AgentState {
    const clock = opts.clock ?? Date.now;
    let db: Database.Database | undefined;
    try {
      mkdirSync(dirname(path), { recursive: true });
      db = new Database(path);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      // better-sqlite3 is built with a 16 MB page cache per connection, which the daemon's polls fill and keep for months; SQLite's own default (2 MB) is enough.
      db.pragma(`cache_size = -${opts.cacheKb ?? 2000}`);
      const at = db.pragma('user_version', { simple: true }) as number;
      if (at > MIGRATIONS.length) {
        throw new TamtamError('E_CONFIG', `${path} was written by a newer Tamtam (schema ${at}, this one knows ${MIGRATIONS.length}); upgrade the agent`);
      }
      for (let v = at; v < MIGRATIONS.length; v++) {
        db.transaction(() => {
          db!.exec(MIGRATIONS[v]);
          // Sequences start from the clock, so a reinstalled agent never reuses one the hub remembers.
          if (v === 0) db!.prepare("INSERT INTO meta (key, value) VALUES ('next_sequence', ?)").run(String(Math.max(1, Math.floor(clock()))));
          db!.pragma(`user_version = ${v + 1}`);
        })();
      }
      return new AgentState(db, clock);
    } catch (e) {
      db?.close();
      throw wrapError(e, 'E_IO', `cannot open the agent state ${path}: ${(e as Error).message}; check the data folder is writable`);
    }
  }

  /** Runs pack, receipt application and recovery one at a time: each reads state the others change. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  lastVersions(table: string, numeros: number[]): Map<number, number> {
    const get = this.db.prepare<[string, number], number>('SELECT last_version FROM versions WHERE table_name = ? AND numero = ?').pluck();
    const out = new Map<number, number>();
    for (const n of numeros) {
      const v = get.get(table, n);
      if (v !== undefined) out.set(n, v);
    }
    return out;
  }

  latestEntries(table: string, numeros: number[]): Map<number, LatestEntry> {
    const get = this.db.prepare<[string, number], Row>(
      'SELECT j.*, s.state AS sdc_state FROM journal j LEFT JOIN sdcs s ON s.sequence = j.sequence WHERE j.table_name = ? AND j.numero = ? ORDER BY j.id DESC LIMIT 1');
    const out = new Map<number, LatestEntry>();
    for (const n of numeros) {
      const r = get.get(table, n);
      if (r) out.set(n, { ...entryOf(r), sdcState: (r.sdc_state as SdcState | null) ?? null });
    }
    return out;
  }

  /**
   * One transaction: a new sequence, the SDC row (packing), a journal entry
   * and the last version of every record; when `replacing`, the SDC whose
   * file was lost is abandoned in the same step.
   */
  beginSdc(table: string, records: { numero: number; version: number }[], replacing?: number): SdcRecord {
    if (records.length === 0) throw new TamtamError('E_INTERNAL', 'an SDC needs at least one record');
    return this.db.transaction(() => {
      const sequence = this.insertSdc('data', table, records.length);
      const journal = this.db.prepare('INSERT INTO journal (table_name, numero, version, sequence) VALUES (?, ?, ?, ?)');
      const version = this.db.prepare(`INSERT INTO versions (table_name, numero, last_version) VALUES (?, ?, ?)
        ON CONFLICT (table_name, numero) DO UPDATE SET last_version = max(last_version, excluded.last_version)`);
      for (const r of records) {
        journal.run(table, r.numero, r.version, sequence);
        version.run(table, r.numero, r.version);
      }
      if (replacing !== undefined) this.db.prepare("UPDATE sdcs SET state = 'abandoned', replaced_by = ? WHERE sequence = ?").run(sequence, replacing);
      return this.sdc(sequence)!;
    })();
  }

  /** An SDC that carries no records (a usage or diagnostic report): recovery abandons it if its file never reached the outbox. */
  beginReport(kind: string): SdcRecord {
    return this.db.transaction(() => this.sdc(this.insertSdc(kind, '', 0))!)();
  }

  private insertSdc(kind: string, table: string, count: number): number {
    const sequence = Number(this.db.prepare("SELECT value FROM meta WHERE key = 'next_sequence'").pluck().get());
    this.db.prepare("UPDATE meta SET value = ? WHERE key = 'next_sequence'").run(String(sequence + 1));
    this.db.prepare("INSERT INTO sdcs (sequence, kind, table_name, count, file, state, created_at) VALUES (?, ?, ?, ?, ?, 'packing', ?)")
      .run(sequence, kind, table, count, `${sequence}.sdc`, this.clock());
    return sequence;
  }

  meta(key: string): string | undefined {
    return this.db.prepare<[string], string>('SELECT value FROM meta WHERE key = ?').pluck().get(key);
  }

  setMeta(key: string, value: string): void {
    this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  /** A lost SDC none of whose records is still at 3: nothing to send again. */
  abandonSdc(sequence: number): void {
    this.db.prepare("UPDATE sdcs SET state = 'abandoned' WHERE sequence = ? AND state IN ('packing', 'packed')").run(sequence);
  }

  markPacked(sequence: number, bytes: number): void {
    this.db.prepare("UPDATE sdcs SET state = 'packed', bytes = ?, packed_at = ? WHERE sequence = ? AND state = 'packing'").run(bytes, this.clock(), sequence);
  }

  /** After the link's far side took the SDC (MQTT PUBACK). */
  markSent(sequence: number): void {
    this.db.prepare('UPDATE sdcs SET sent_at = ? WHERE sequence = ?').run(this.clock(), sequence);
  }

  sdc(sequence: number): SdcRecord | undefined {
    const r = this.db.prepare<[number], Row>('SELECT * FROM sdcs WHERE sequence = ?').get(sequence);
    return r && sdcOf(r);
  }

  sdcs(states: readonly SdcState[]): SdcRecord[] {
    return this.db.prepare<string[], Row>(`SELECT * FROM sdcs WHERE state IN (${states.map(() => '?').join(',')}) ORDER BY sequence`).all(...states).map(sdcOf);
  }

  /** The newest SDCs of a kind in a state, oldest first: what recent batches weighed, without reading the whole history. */
  recentSdcs(kind: string, state: SdcState, limit: number): SdcRecord[] {
    return this.db.prepare<[string, string, number], Row>('SELECT * FROM sdcs WHERE kind = ? AND state = ? ORDER BY sequence DESC LIMIT ?')
      .all(kind, state, limit).map(sdcOf).reverse();
  }

  journal(sequence: number): JournalEntry[] {
    return this.db.prepare<[number], Row>('SELECT * FROM journal WHERE sequence = ? ORDER BY numero').all(sequence).map(entryOf);
  }

  /**
   * Journals the hub's answer (applied = 0) and marks the SDC receipted, in
   * one transaction. A record the receipt does not mention is journaled as
   * rejected, so it stays at 3 and shows in the status instead of waiting forever.
   */
  recordReceipt(sequence: number, r: { accepted: boolean; reason?: string; entries: ReceiptEntry[] }): { matched: number; unknown: number } {
    return this.db.transaction(() => {
      const set = this.db.prepare('UPDATE journal SET outcome = ?, reason = ?, applied = 0 WHERE sequence = ? AND numero = ? AND version = ? AND outcome IS NULL');
      let matched = 0;
      let unknown = 0;
      if (r.accepted) {
        for (const e of r.entries) {
          if (set.run(e.outcome, e.reason ?? null, sequence, e.numero, e.version).changes > 0) matched++;
          else unknown++;
        }
      }
      const why = r.accepted
        ? `the hub's receipt for SDC ${sequence} did not mention this record; set it back to 2 to send it again`
        : `the hub refused SDC ${sequence}: ${r.reason ?? 'no reason given'}`;
      this.db.prepare("UPDATE journal SET outcome = 'rejected', reason = ?, applied = 0 WHERE sequence = ? AND outcome IS NULL").run(why, sequence);
      this.db.prepare("UPDATE sdcs SET state = 'receipted', receipt_at = ?, outcome = ?, reason = ? WHERE sequence = ?")
        .run(this.clock(), r.accepted ? 'accepted' : 'refused', r.reason ?? null, sequence);
      return { matched, unknown };
    })();
  }

  /** Journal entries with an outcome whose status change may not have happened yet. */
  unapplied(): JournalEntry[] {
    return this.db.prepare<[], Row>('SELECT * FROM journal WHERE applied = 0 AND outcome IS NOT NULL ORDER BY sequence, numero').all().map(entryOf);
  }

  markApplied(sequence: number): void {
    this.db.transaction(() => {
      this.db.prepare('UPDATE journal SET applied = 1 WHERE sequence = ? AND outcome IS NOT NULL').run(sequence);
      this.db.prepare("UPDATE sdcs SET state = 'done' WHERE sequence = ? AND state = 'receipted'").run(sequence);
    })();
  }

  /** A record the agent cannot send at all (it alone is over the size of an SDC): kept at 3 with the reason, like a hub rejection. */
  rejectLocally(table: string, numero: number, version: number, reason: string): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM journal WHERE sequence = 0 AND table_name = ? AND numero = ?').run(table, numero);
      this.db.prepare("INSERT INTO journal (table_name, numero, version, sequence, outcome, reason, applied) VALUES (?, ?, ?, 0, 'rejected', ?, 1)")
        .run(table, numero, version, reason);
    })();
  }

  lastReceipt(): SdcRecord | undefined {
    const r = this.db.prepare<[], Row>('SELECT * FROM sdcs WHERE receipt_at IS NOT NULL ORDER BY receipt_at DESC, sequence DESC LIMIT 1').get();
    return r && sdcOf(r);
  }

  /** Records whose newest journal entry is a rejection, newest first. */
  rejected(limit: number): JournalEntry[] {
    return this.db.prepare<[number], Row>(`SELECT j.* FROM journal j
      WHERE j.outcome = 'rejected' AND j.id = (SELECT max(id) FROM journal k WHERE k.table_name = j.table_name AND k.numero = j.numero)
      ORDER BY j.id DESC LIMIT ?`).all(limit).map(entryOf);
  }

  addUsage(link: string, delta: Partial<LinkUsage>, at = this.clock()): void {
    const day = new Date(at).toISOString().slice(0, 10);
    const d = { ...emptyUsage(), ...delta };
    this.db.prepare(`INSERT INTO usage (link, day, bytes_up, bytes_down, messages_up, messages_down, sessions, airtime_ms, cost_usd) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (link, day) DO UPDATE SET bytes_up = bytes_up + excluded.bytes_up, bytes_down = bytes_down + excluded.bytes_down,
        messages_up = messages_up + excluded.messages_up, messages_down = messages_down + excluded.messages_down, sessions = sessions + excluded.sessions,
        airtime_ms = airtime_ms + excluded.airtime_ms, cost_usd = cost_usd + excluded.cost_usd`)
      .run(link, day, d.bytesUp, d.bytesDown, d.messagesUp, d.messagesDown, d.sessions, Math.round(d.airtimeMs), d.costUsd);
  }

  /** Usage by link and day, from `fromDay` (YYYY-MM-DD) on when given. */
  usage(fromDay = ''): UsageRow[] {
    return this.db.prepare<[string], Row>('SELECT * FROM usage WHERE day >= ? ORDER BY day, link').all(fromDay).map((r) => ({
      link: r.link as string, day: r.day as string, bytesUp: r.bytes_up as number, bytesDown: r.bytes_down as number,
      messagesUp: r.messages_up as number, messagesDown: r.messages_down as number, sessions: r.sessions as number,
      airtimeMs: r.airtime_ms as number, costUsd: r.cost_usd as number,
    }));
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
