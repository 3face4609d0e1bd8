import { statSync } from 'node:fs';
import { emptyUsage, USAGE_FIELDS, type LinkState, type LinkUsage } from './link/link.js';
import type { SourceAdapter } from './source/source-adapter.js';
import type { Spool } from './spool/spool.js';
import type { AgentState, SdcRecord } from './state/agent-state.js';
import { lastStick, type StickReport } from './t2d/stick-exchange.js';

const STATUS_NAMES = ['cancelled', 'new', 'validated', 'inSdc', 'exported'] as const;
type StatusName = (typeof STATUS_NAMES)[number];

export interface AgentStatusReport {
  centre: string;
  at: string;
  /** Backlog by status, per table, read from the centre's database. */
  tables: { table: string; counts: Record<StatusName | 'other', number> }[];
  awaitingReceipt: { sequence: number; table: string; count: number; bytes: number | null; createdAt: string; sentAt: string | null; overdue: boolean }[];
  lastReceipt: { sequence: number; table: string; at: string; outcome: string; reason: string | null } | null;
  /** Records kept at 3 because the hub (or the agent) refused them, with why; newest first. */
  rejected: { table: string; numero: number; version: number; sequence: number; reason: string }[];
  link: { kind: string; state: LinkState | 'not running'; usage: (LinkUsage & { link: string; day: string })[] };
  spool: { outbox: number; outboxBytes: number; inbox: number; quarantine: { name: string; reason: string }[] };
  /** The last USB stick exchange; pullable false: it is under way, or the agent stopped during it. */
  lastStick: StickReport | null;
}

export interface AgentStatusOptions {
  centre: string;
  state: AgentState;
  source: SourceAdapter;
  spool: Spool;
  tables: readonly string[];
  receiptTimeoutSeconds: number;
  /** The running link, when the status is asked of a running agent. */
  link?: { kind: string; state: LinkState };
  /** Most rejected records listed; default 100. */
  rejectedLimit?: number;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** What `tamtam agent status` shows: where every record is, what waits, what the hub refused and why, what the link costs. */
export async function agentStatus(o: AgentStatusOptions): Promise<AgentStatusReport> {
  const now = o.state.clock();
  const tables: AgentStatusReport['tables'] = [];
  for (const table of o.tables) {
    const byCode = await o.source.countByStatus(table);
    const counts = { cancelled: 0, new: 0, validated: 0, inSdc: 0, exported: 0, other: 0 };
    for (const [code, n] of Object.entries(byCode)) counts[STATUS_NAMES[Number(code)] ?? 'other'] += n;
    tables.push({ table, counts });
  }
  const waiting = o.state.sdcs(['packing', 'packed']).map((s: SdcRecord) => ({
    sequence: s.sequence, table: s.table, count: s.count, bytes: s.bytes, createdAt: iso(s.createdAt), sentAt: s.sentAt === null ? null : iso(s.sentAt),
    overdue: s.sentAt !== null && now - s.sentAt >= o.receiptTimeoutSeconds * 1000,
  }));
  const last = o.state.lastReceipt();
  // A rejected record staff already set back to 1 needs nothing more; only those still at 3 are listed.
  const candidates = o.state.rejected(o.rejectedLimit ?? 100);
  const still = new Set<string>();
  for (const table of new Set(candidates.map((e) => e.table))) {
    const rows = await o.source.readRows(table, candidates.filter((e) => e.table === table).map((e) => e.numero));
    for (const r of rows) if (Number(r.values.status) === 3) still.add(`${table}\0${r.numero}`);
  }
  const outbox = o.spool.listOutbox();
  let outboxBytes = 0;
  for (const f of outbox) {
    try {
      outboxBytes += statSync(f.path).size;
    } catch {
      // a receipt removed it meanwhile
    }
  }
  return {
    centre: o.centre,
    at: iso(now),
    tables,
    awaitingReceipt: waiting,
    lastReceipt: last && last.receiptAt !== null
      ? { sequence: last.sequence, table: last.table, at: iso(last.receiptAt), outcome: last.outcome ?? 'unknown', reason: last.reason }
      : null,
    rejected: candidates.filter((e) => still.has(`${e.table}\0${e.numero}`))
      .map((e) => ({ table: e.table, numero: e.numero, version: e.version, sequence: e.sequence, reason: e.reason ?? 'no reason given' })),
    link: { kind: o.link?.kind ?? 'none', state: o.link?.state ?? 'not running', usage: o.state.usage() },
    spool: { outbox: outbox.length, outboxBytes, inbox: o.spool.listInbox().length, quarantine: o.spool.listQuarantine().map((q) => ({ name: q.name, reason: q.reason })) },
    lastStick: lastStick(o.state) ?? null,
  };
}

const kb = (n: number) => (n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} KB`);
const pad = (s: string | number, w: number) => String(s).padStart(w);

export function formatAgentStatus(r: AgentStatusReport): string {
  const lines = [`Tamtam agent ${r.centre}, ${r.at}`, '', `${'Records'.padEnd(20)}${pad('cancelled', 10)}${pad('new', 8)}${pad('validated', 10)}${pad('in SDC', 8)}${pad('exported', 10)}`];
  for (const t of r.tables) {
    const c = t.counts;
    lines.push(`  ${t.table.padEnd(18)}${pad(c.cancelled, 10)}${pad(c.new, 8)}${pad(c.validated, 10)}${pad(c.inSdc, 8)}${pad(c.exported, 10)}${c.other ? `  (${c.other} with another status)` : ''}`);
  }
  const overdue = r.awaitingReceipt.filter((s) => s.overdue).length;
  lines.push('', `SDCs waiting for a receipt: ${r.awaitingReceipt.length}${overdue ? ` (${overdue} overdue: they will be sent again)` : ''}`);
  for (const s of r.awaitingReceipt.slice(0, 20)) {
    lines.push(`  #${s.sequence} ${s.table}, ${s.count} records${s.bytes === null ? '' : `, ${kb(s.bytes)}`}, packed ${s.createdAt}, ${s.sentAt ? `sent ${s.sentAt}` : 'not sent yet'}${s.overdue ? ', OVERDUE' : ''}`);
  }
  if (r.awaitingReceipt.length > 20) lines.push(`  ... and ${r.awaitingReceipt.length - 20} more`);
  lines.push(r.lastReceipt
    ? `Last receipt: SDC #${r.lastReceipt.sequence} (${r.lastReceipt.table}) at ${r.lastReceipt.at}, ${r.lastReceipt.outcome}${r.lastReceipt.reason ? `: ${r.lastReceipt.reason}` : ''}`
    : 'Last receipt: none yet');
  if (r.rejected.length > 0) {
    lines.push('', `Rejected records, kept at status 3 (fix each, set it back to 1, then validate it again): ${r.rejected.length}`);
    for (const e of r.rejected) lines.push(`  ${e.table} ${e.numero} version ${e.version}${e.sequence ? ` (SDC #${e.sequence})` : ' (refused by the agent)'}: ${e.reason}`);
  }
  const byLink = new Map<string, LinkUsage>();
  for (const u of r.link.usage) {
    const t = byLink.get(u.link) ?? emptyUsage();
    for (const k of USAGE_FIELDS) t[k] += u[k];
    byLink.set(u.link, t);
  }
  lines.push('', `Link: ${r.link.kind}, ${r.link.state}`);
  const today = r.at.slice(0, 10);
  for (const [link, t] of byLink) {
    const d = r.link.usage.find((u) => u.link === link && u.day === today);
    lines.push(`  ${link}: today ${d ? `${kb(d.bytesUp)} up, ${kb(d.bytesDown)} down, ${usd(d.costUsd)}` : 'nothing'}; in all ${kb(t.bytesUp)} up, ${kb(t.bytesDown)} down, ${t.messagesUp} messages up, ${t.messagesDown} down, ${t.sessions} sessions, ${minutes(t.airtimeMs)} connected, ${usd(t.costUsd)}`);
  }
  lines.push('', `Spool: ${r.spool.outbox} SDCs in the outbox (${kb(r.spool.outboxBytes)}), ${r.spool.inbox} in the inbox, ${r.spool.quarantine.length} quarantined`);
  for (const q of r.spool.quarantine) lines.push(`  quarantine/${q.name}: ${q.reason}`);
  lines.push('', ...formatLastStick(r.lastStick));
  return `${lines.join('\n')}\n`;
}

const usd = (v: number) => `US$${v.toFixed(2)}`;
const minutes = (ms: number) => (ms < 60_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 60_000).toFixed(1)} min`);

function formatLastStick(s: StickReport | null): string[] {
  if (!s) return ['Last USB stick: none yet'];
  if (!s.pullable) {
    return [`Last USB stick: ${s.root}, started ${s.startedAt}, NOT FINISHED: under way now (do not remove it), or the agent stopped during it (nothing on it is half-written; insert it again)`];
  }
  const lines = [
    `Last USB stick: ${s.root}, ${s.finishedAt}, ${s.errors.length === 0 ? 'done' : `done with ${s.errors.length} problem(s)`}; it could be removed from ${s.finishedAt}`,
    `  written: ${s.written} SDCs${s.alreadyThere ? ` (${s.alreadyThere} already on it)` : ''}${s.withdrawn ? `, ${s.withdrawn} taken off (receipted meanwhile)` : ''}`,
    `  read: ${s.receiptsApplied} receipts applied, ${s.receiptsQuarantined} quarantined${s.receiptsRepeated ? `, ${s.receiptsRepeated} repeats` : ''}`,
  ];
  if (s.relayedUp || s.relayedDown) lines.push(`  relayed for other centres: ${s.relayedUp} SDCs to the hub, ${s.relayedDown} answers onto the stick`);
  for (const e of s.errors.slice(0, 5)) lines.push(`  problem: ${e.code}: ${e.message}`);
  return lines;
}
