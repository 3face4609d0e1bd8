import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, unlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { syncDir, writeFileAtomic } from '../../common/atomic-write.js';
import { TamtamError } from '../../protocol/errors.js';
import type { Clock } from '../state/agent-state.js';

export interface SpoolFile {
  name: string;
  path: string;
}

export interface OutboxFile extends SpoolFile {
  sequence: number;
}

export interface QuarantinedFile extends SpoolFile {
  reason: string;
}

const OUTBOX_NAME = /^([1-9][0-9]{0,15})\.sdc$/;
const REASON = '.reason';
/** writeFileAtomic's temp files start with a dot; nothing else the spool writes does. */
const isTemp = (name: string) => name.startsWith('.');

function ioError(e: unknown, what: string): TamtamError {
  return new TamtamError('E_IO', `cannot ${what}: ${(e as Error).message}; check the agent's data folder (disk full, permissions)`, { cause: e, retryable: true });
}

function removeFile(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw ioError(e, `remove ${path}`);
  }
}

/**
 * The agent's files under dataDir/spool: outbox/<sequence>.sdc waiting for a
 * receipt, inbox/ for what links bring in until it is applied, quarantine/ for
 * what cannot be applied, each with a .reason file beside it. Every file
 * appears whole under its final name or not at all.
 */
export class Spool {
  readonly outboxDir: string;
  readonly inboxDir: string;
  readonly quarantineDir: string;

  private constructor(readonly root: string, private readonly clock: Clock) {
    this.outboxDir = join(root, 'outbox');
    this.inboxDir = join(root, 'inbox');
    this.quarantineDir = join(root, 'quarantine');
  }

  static open(dataDir: string, opts: { clock?: Clock } = {}): Spool {
    const spool = new Spool(join(dataDir, 'spool'), opts.clock ?? Date.now);
    for (const dir of [spool.outboxDir, spool.inboxDir, spool.quarantineDir]) {
      try {
        mkdirSync(dir, { recursive: true });
      } catch (e) {
        throw ioError(e, `create ${dir}`);
      }
    }
    return spool;
  }

  private names(dir: string): string[] {
    try {
      return readdirSync(dir).filter((n) => !isTemp(n));
    } catch (e) {
      throw ioError(e, `list ${dir}`);
    }
  }

  outboxPath(sequence: number): string {
    return join(this.outboxDir, `${sequence}.sdc`);
  }

  writeOutbox(sequence: number, sdc: Uint8Array): string {
    const path = this.outboxPath(sequence);
    writeFileAtomic(path, sdc);
    return path;
  }

  hasOutbox(sequence: number): boolean {
    return existsSync(this.outboxPath(sequence));
  }

  readOutbox(sequence: number): Uint8Array {
    try {
      return new Uint8Array(readFileSync(this.outboxPath(sequence)));
    } catch (e) {
      throw ioError(e, `read outbox SDC ${sequence}`);
    }
  }

  /** Outbox SDCs, oldest (lowest sequence) first; files of other names are not the agent's and are left out. */
  listOutbox(): OutboxFile[] {
    const out: OutboxFile[] = [];
    for (const name of this.names(this.outboxDir)) {
      const m = OUTBOX_NAME.exec(name);
      if (m) out.push({ name, path: join(this.outboxDir, name), sequence: Number(m[1]) });
    }
    return out.sort((a, b) => a.sequence - b.sequence);
  }

  /** Returns false when it was already gone, which a repeated step makes normal. */
  removeOutbox(sequence: number): boolean {
    const removed = removeFile(this.outboxPath(sequence));
    if (removed) syncDir(this.outboxDir);
    return removed;
  }

  /** Names start with the arrival time, so the inbox lists oldest first; the hash keeps two arrivals apart. */
  writeInbox(payload: Uint8Array): SpoolFile {
    const hash = createHash('sha256').update(payload).digest('hex').slice(0, 16);
    const name = `${String(Math.floor(this.clock())).padStart(15, '0')}-${hash}.sdc`;
    const path = join(this.inboxDir, name);
    writeFileAtomic(path, payload);
    return { name, path };
  }

  listInbox(): SpoolFile[] {
    return this.names(this.inboxDir).sort().map((name) => ({ name, path: join(this.inboxDir, name) }));
  }

  readInbox(name: string): Uint8Array {
    try {
      return new Uint8Array(readFileSync(join(this.inboxDir, basename(name))));
    } catch (e) {
      throw ioError(e, `read inbox file ${name}`);
    }
  }

  removeInbox(name: string): boolean {
    const removed = removeFile(join(this.inboxDir, basename(name)));
    if (removed) syncDir(this.inboxDir);
    return removed;
  }

  /**
   * Moves a file into quarantine/ with `<name>.reason` beside it. The reason
   * is written first: a crash in between leaves the file where it was, to be
   * judged again, never a quarantined file without its reason.
   */
  quarantine(path: string, reason: string): QuarantinedFile {
    const taken = new Set(readdirSync(this.quarantineDir));
    let name = basename(path);
    // A reason without its file is what a crash between the two steps leaves: that name is free again.
    for (let i = 1; taken.has(name); i++) name = `${basename(path)}.${i}`;
    const target = join(this.quarantineDir, name);
    writeFileAtomic(`${target}${REASON}`, `${reason}\n`);
    try {
      renameSync(path, target);
    } catch (e) {
      throw ioError(e, `move ${path} into quarantine`);
    }
    syncDir(this.quarantineDir);
    syncDir(join(path, '..'));
    return { name, path: target, reason };
  }

  listQuarantine(): QuarantinedFile[] {
    const names = this.names(this.quarantineDir);
    const reasons = new Set(names.filter((n) => n.endsWith(REASON)));
    return names.filter((n) => !reasons.has(n)).sort().map((name) => {
      const path = join(this.quarantineDir, name);
      let reason = '(no reason file)';
      if (reasons.has(`${name}${REASON}`)) reason = readFileSync(`${path}${REASON}`, 'utf8').trim();
      return { name, path, reason };
    });
  }

  /** Temp files a crash left mid-write; none of them was ever a whole file. */
  removeTempFiles(): number {
    let n = 0;
    for (const dir of [this.outboxDir, this.inboxDir, this.quarantineDir]) {
      for (const name of readdirSync(dir)) if (isTemp(name) && name.endsWith('.tmp') && removeFile(join(dir, name))) n++;
    }
    return n;
  }
}
