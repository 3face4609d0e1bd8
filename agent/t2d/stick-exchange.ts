import { createHash } from 'node:crypto';
import { Stick, type StickFile } from '../../common/t2d-stick.js';
import { TamtamError, isTamtamError, type ErrorCode } from '../../protocol/errors.js';
import { DEFAULT_MAX_SDC, peekSdc } from '../../protocol/sdc/sdc.js';
import type { AgentLog } from '../agent-runtime.js';
import type { InboundResult } from '../diagnostics/inbound-router.js';
import type { Link } from '../link/link.js';
import type { ReceiptApplier, ReceiptResult } from '../receipt-applier.js';
import type { Spool } from '../spool/spool.js';
import type { AgentState } from '../state/agent-state.js';
import type { RelayStore } from './relay-store.js';

/** The state.db meta key holding the last exchange, for `tamtam agent status`. */
export const LAST_STICK_KEY = 't2d.last_stick';
/** Usage rows of the stick, beside the links': a stick costs nothing, but what it carried is counted. */
export const STICK_USAGE_LINK = 'usb-stick';

export interface StickReport {
  root: string;
  startedAt: string;
  finishedAt: string | null;
  /** Outbox SDCs written onto the stick, and those already there from an earlier insertion. */
  written: number;
  alreadyThere: number;
  /** This centre's SDCs taken off the stick because their receipt came meanwhile (by another link). */
  withdrawn: number;
  receiptsApplied: number;
  receiptsQuarantined: number;
  /** Receipts for SDCs already done or unknown here: harmless repeats. */
  receiptsRepeated: number;
  /** Other centres' SDCs sent to the hub on this centre's link, and answers of the hub written in their place. */
  relayedUp: number;
  relayedDown: number;
  errors: { code: ErrorCode; message: string }[];
  notices: string[];
  /** True once every write on the stick is fsynced and renamed: the operator may pull it. */
  pullable: boolean;
}

export interface StickExchangeOptions {
  centre: string;
  state: AgentState;
  spool: Spool;
  applier: ReceiptApplier;
  relayStore: RelayStore;
  /** Forwards other centres' SDCs found on the stick; absent: they stay for another relay or the hub. */
  link?: Link;
  log: AgentLog;
  onReceipt?: (r: ReceiptResult) => void;
  /** Routes what the hub wrote for this centre by kind (receipts, diagnostic requests); default: everything to the applier. */
  inbound?: (payload: Uint8Array) => Promise<InboundResult>;
  /** Longest wait for the link to take one relayed SDC; default 30 s. */
  relaySendTimeoutMs?: number;
}

const iso = (ms: number) => new Date(ms).toISOString();
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const asError = (e: unknown) => (isTamtamError(e) ? e : new TamtamError('E_INTERNAL', (e as Error).message, { cause: e }));
const OWN_NAME = /^([1-9][0-9]{0,15})\.sdc$/;

/** No SDC is larger: a bigger file is not read into memory, nor copied to the inbox, nor sent to the hub. */
function readSdc(stick: Stick, f: StickFile): Uint8Array {
  if (f.size > DEFAULT_MAX_SDC) throw new TamtamError('E_TOO_LARGE', `${f.direction}/${f.centre}/${f.name} on the stick has ${f.size} bytes, more than any SDC (${DEFAULT_MAX_SDC}): it is not Tamtam's, and is left alone`);
  return stick.read(f);
}

export function lastStick(state: AgentState): StickReport | undefined {
  const raw = state.meta(LAST_STICK_KEY);
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw) as StickReport;
  } catch {
    return undefined;
  }
}

/** As exchange(), from a mount point: a stick that cannot be read is a report with its error, nothing written. */
export async function exchangeAt(root: string, o: StickExchangeOptions): Promise<StickReport> {
  let stick: Stick;
  try {
    stick = Stick.open(root);
  } catch (e) {
    const err = asError(e);
    const at = iso(o.state.clock());
    o.log('stick_error', { root, step: 'open', code: err.code, message: err.message });
    return {
      root, startedAt: at, finishedAt: at, written: 0, alreadyThere: 0, withdrawn: 0, receiptsApplied: 0, receiptsQuarantined: 0, receiptsRepeated: 0,
      relayedUp: 0, relayedDown: 0, errors: [{ code: err.code, message: err.message }], notices: [], pullable: true,
    };
  }
  return exchange(stick, o);
}

/**
 * One insertion: receipts for this centre are applied (records 3 -> 4), its
 * SDCs whose receipt came otherwise leave the stick, every outbox SDC not yet
 * on it is written, answers kept for other centres go in their place, and
 * other centres' SDCs are forwarded on this centre's link. An SDC leaves the
 * outbox only through its receipt, never because it is on a stick. One
 * failure never stops the steps that do not need it.
 */
export async function exchange(stick: Stick, o: StickExchangeOptions): Promise<StickReport> {
  const clock = o.state.clock;
  const r: StickReport = {
    root: stick.root, startedAt: iso(clock()), finishedAt: null, written: 0, alreadyThere: 0, withdrawn: 0, receiptsApplied: 0, receiptsQuarantined: 0,
    receiptsRepeated: 0, relayedUp: 0, relayedDown: 0, errors: [], notices: [], pullable: false,
  };
  const save = () => o.state.setMeta(LAST_STICK_KEY, JSON.stringify(r));
  const fail = (e: unknown, step: string) => {
    const err = asError(e);
    r.errors.push({ code: err.code, message: err.message });
    o.log('stick_error', { root: stick.root, step, code: err.code, message: err.message });
  };
  save();
  o.log('stick_exchange', { root: stick.root, centre: o.centre, message: 'do not remove the stick until stick_done' });
  let bytesDown = 0;
  let bytesUp = 0;
  try {
    try {
      const cleaned = stick.cleanTemp();
      if (cleaned > 0) o.log('stick_cleaned', { root: stick.root, files: cleaned });
    } catch (e) {
      fail(e, 'clean');
    }
    bytesDown += await readReceipts(stick, o, r, fail);
    withdraw(stick, o, r, fail);
    bytesUp += await o.state.exclusive(async () => writeOutbox(stick, o, r, fail));
    writeRelayed(stick, o, r, fail);
    if (o.link) await relayUp(stick, o, o.link, r, fail);
  } catch (e) {
    fail(e, 'exchange');
  } finally {
    r.notices.push(...stick.notices());
    for (const notice of r.notices) o.log('stick_notice', { root: stick.root, notice });
    o.state.addUsage(STICK_USAGE_LINK, { bytesUp, bytesDown, messagesUp: r.written, messagesDown: r.receiptsApplied + r.receiptsQuarantined + r.receiptsRepeated, sessions: 1 });
    r.finishedAt = iso(clock());
    r.pullable = true;
    save();
  }
  o.log('stick_done', {
    root: stick.root, written: r.written, alreadyThere: r.alreadyThere, withdrawn: r.withdrawn, receiptsApplied: r.receiptsApplied,
    receiptsQuarantined: r.receiptsQuarantined, receiptsRepeated: r.receiptsRepeated, relayedUp: r.relayedUp, relayedDown: r.relayedDown, errors: r.errors.length,
    message: r.errors.length === 0 ? 'you can remove the stick' : `you can remove the stick; ${r.errors.length} problem(s), first: ${r.errors[0]!.message}`,
  });
  return r;
}

type Fail = (e: unknown, step: string) => void;

async function readReceipts(stick: Stick, o: StickExchangeOptions, r: StickReport, fail: Fail): Promise<number> {
  let bytes = 0;
  for (const f of stick.list('down', o.centre)) {
    let payload: Uint8Array;
    try {
      payload = readSdc(stick, f);
    } catch (e) {
      fail(e, `read down/${f.centre}/${f.name}`);
      continue;
    }
    let routed: InboundResult;
    try {
      // The inbox copy is durable once accept() resolves: only then may the stick's go.
      routed = o.inbound ? await o.inbound(payload) : { receipt: await o.applier.accept(payload) };
    } catch (e) {
      fail(e, `apply down/${f.centre}/${f.name}`);
      return bytes;
    }
    bytes += payload.length;
    // A diagnostic request: its report joins the outbox, which is written on this same stick next.
    const result = 'receipt' in routed ? routed.receipt : routed.diagnostic;
    if ('receipt' in routed) o.onReceipt?.(routed.receipt);
    if (result.status === 'applied' || result.status === 'answered') r.receiptsApplied++;
    else if (result.status === 'quarantined') r.receiptsQuarantined++;
    else r.receiptsRepeated++;
    try {
      stick.remove(f);
    } catch (e) {
      fail(e, `remove down/${f.centre}/${f.name}`);
    }
  }
  return bytes;
}

function withdraw(stick: Stick, o: StickExchangeOptions, r: StickReport, fail: Fail): void {
  for (const f of stick.list('up', o.centre)) {
    const m = OWN_NAME.exec(f.name);
    const sdc = m ? o.state.sdc(Number(m[1])) : undefined;
    if (!sdc || (sdc.state !== 'done' && sdc.state !== 'abandoned')) continue;
    try {
      stick.remove(f);
      r.withdrawn++;
    } catch (e) {
      fail(e, `remove up/${f.centre}/${f.name}`);
      return;
    }
  }
}

/** Stops at the first failed write: a full or write-protected stick fails every other write the same way. */
function writeOutbox(stick: Stick, o: StickExchangeOptions, r: StickReport, fail: Fail): number {
  const there = new Map(stick.list('up', o.centre).map((f) => [f.name, f.sha256]));
  const written: string[] = [];
  let bytes = 0;
  const done = () => {
    if (written.length > 0) o.log('stick_written', { root: stick.root, files: written.map((n) => `up/${o.centre}/${n}`) });
    return bytes;
  };
  for (const f of o.spool.listOutbox()) {
    let sdc: Uint8Array;
    try {
      sdc = o.spool.readOutbox(f.sequence);
    } catch {
      continue; // its receipt came meanwhile and took the file
    }
    if (there.get(f.name) === sha256(sdc)) {
      r.alreadyThere++;
      continue;
    }
    try {
      stick.write('up', o.centre, f.name, sdc);
    } catch (e) {
      fail(e, `write up/${o.centre}/${f.name}`);
      return done();
    }
    r.written++;
    written.push(f.name);
    bytes += sdc.length;
  }
  return done();
}

function writeRelayed(stick: Stick, o: StickExchangeOptions, r: StickReport, fail: Fail): void {
  for (const item of o.relayStore.list()) {
    try {
      stick.write('down', item.centre, item.name, o.relayStore.read(item));
    } catch (e) {
      fail(e, `write down/${item.centre}/${item.name}`);
      return;
    }
    // A crash before this line writes it again next time, under the same name: the stick keeps one copy.
    o.relayStore.remove(item);
    r.relayedDown++;
    o.log('stick_relayed_down', { centre: item.centre, file: `down/${item.centre}/${item.name}` });
  }
}

async function relayUp(stick: Stick, o: StickExchangeOptions, link: Link, r: StickReport, fail: Fail): Promise<void> {
  const theirs = stick.list('up').filter((f) => f.centre !== o.centre);
  if (theirs.length === 0) return;
  if (link.state !== 'up') {
    // Nothing is wrong: the hub imports them when the stick reaches it, or a later insertion here forwards them.
    r.notices.push(`${theirs.length} SDC(s) of other centres stay on the stick for the hub: this centre's ${link.kind} link is ${link.state}, so they are not relayed now`);
    return;
  }
  for (const f of theirs) {
    let sdc: Uint8Array;
    try {
      sdc = readSdc(stick, f);
      peekSdc(sdc);
    } catch (e) {
      fail(e, `relay up/${f.centre}/${f.name}`);
      continue;
    }
    try {
      await link.send(sdc, AbortSignal.timeout(o.relaySendTimeoutMs ?? 30_000));
    } catch (e) {
      fail(e, `relay up/${f.centre}/${f.name}`);
      return;
    }
    r.relayedUp++;
    o.log('stick_relayed_up', { centre: f.centre, file: `up/${f.centre}/${f.name}`, bytes: sdc.length });
    removeRelayed(stick, f, fail);
  }
}

/** The hub has it: the stick's copy would only be sent again by the next relay or imported twice (harmless, but carried for nothing). */
function removeRelayed(stick: Stick, f: StickFile, fail: Fail): void {
  try {
    stick.remove(f);
  } catch (e) {
    fail(e, `remove up/${f.centre}/${f.name}`);
  }
}
