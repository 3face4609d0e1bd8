import { decodeFrame, FrameType } from '../../protocol/chunk/index.js';
import { SessionMachine, TransferReceiver, type SessionEvent, type SessionMachineOptions } from '../../protocol/session/index.js';
import { TamtamError } from '../../protocol/errors.js';
import { seededRandom as prng } from './acts.js';

const randomBytes = (rng: () => number, n: number): Uint8Array => Uint8Array.from({ length: n }, () => Math.floor(rng() * 256));

export interface Faults {
  /** Probability a frame is lost (as if a bit error broke its CRC). */
  loss?: number;
  duplicate?: number;
  /** Probability a frame is held back and delivered after the next one. */
  reorder?: number;
  /** Garbage bytes between frames. */
  noise?: number;
}

export interface SimOptions {
  seed?: number;
  /** One-way delay. */
  delayMs?: number;
  /** Bytes a millisecond each way. */
  bytesPerMs?: number;
  up?: Faults;
  down?: Faults;
  handlerMs?: number;
  /** Hub application: false makes it fail (Decline). */
  hubTakes?: (sdc: Uint8Array, attempt: number) => boolean;
  caller?: Partial<SessionMachineOptions>;
  answerer?: Partial<SessionMachineOptions>;
  hubReceiver?: TransferReceiver;
  agentReceiver?: TransferReceiver;
  /** Cut the call once this many bytes went up. */
  cutAfterUp?: number;
  /** Loses the down frames it returns true for. */
  dropDown?: (frame: Uint8Array) => boolean;
  replies?: boolean;
  limitMs?: number;
  trace?: (line: string) => void;
}

export interface SimResult {
  sent: number[];
  failed: { transferId: number; error: TamtamError }[];
  hubGot: Uint8Array[];
  agentGot: Uint8Array[];
  bytesUp: number;
  bytesDown: number;
  chunkFramesUp: number;
  statusRequestsUp: number;
  timeMs: number;
  caller: SessionMachine;
  answerer: SessionMachine;
  cut: boolean;
}

export const TIMING = { rtoMs: 400, maxRtoMs: 4000, checkpointMs: 60_000 };
/** TRACE=1 prints every frame of the simulations that pass it on. */
export const TRACE = process.env.TRACE ? (line: string) => console.log(line) : undefined;

/**
 * Two session machines on a discrete-event link: each side writes one frame
 * at a time at the link's rate, frames arrive after the delay, with loss,
 * duplicates, reordering and noise as asked. Time is simulated.
 */
export function simulate(sdcs: Uint8Array[], o: SimOptions = {}): SimResult {
  const rng = prng(o.seed ?? 1);
  const delay = o.delayMs ?? 100;
  const rate = o.bytesPerMs ?? 100;
  const hubReceiver = o.hubReceiver ?? new TransferReceiver();
  // As a driver would: the first wait is two round trips, so a slow answer is not taken for a lost one.
  const timing = { ...TIMING, rtoMs: 4 * delay + 200 };
  const caller = new SessionMachine({ role: 'caller', centre: 'CM-TEST-0001', chunkSize: 256, receiver: o.agentReceiver, ...timing, ...o.caller }, 0);
  const answerer = new SessionMachine({ role: 'answerer', chunkSize: 16384, ...timing, ...o.answerer }, 0);
  const res: SimResult = { sent: [], failed: [], hubGot: [], agentGot: [], bytesUp: 0, bytesDown: 0, chunkFramesUp: 0, statusRequestsUp: 0, timeMs: 0, caller, answerer, cut: false };
  const ids = sdcs.map((s) => caller.send(s));
  type Arrival = { at: number; bytes: Uint8Array; to: SessionMachine };
  const arrivals: Arrival[] = [];
  const timers: { at: number; run: () => void }[] = [];
  const busy = new Map<SessionMachine, number>([[caller, 0], [answerer, 0]]);
  const held = new Map<SessionMachine, Arrival | undefined>();
  const attempts = new Map<number, number>();
  let now = 0;
  const settled = () => res.sent.length + res.failed.length >= new Set(ids).size;

  const transmit = (from: SessionMachine, frame: Uint8Array) => {
    const to = from === caller ? answerer : caller;
    if (o.trace) { const d = decodeFrame(frame); o.trace(`${now.toFixed(0)} ${from === caller ? 'up  ' : 'down'} type ${d.type} ${d.transferId.toString(16)} #${d.index} ${frame.length} B`); }
    const f = (from === caller ? o.up : o.down) ?? {};
    const end = now + frame.length / rate;
    busy.set(from, end);
    if (from === caller) {
      res.bytesUp += frame.length;
      if (frame[3] === FrameType.Chunk) res.chunkFramesUp++;
      if (frame[3] === FrameType.StatusRequest) res.statusRequestsUp++;
      if (o.cutAfterUp !== undefined && res.bytesUp > o.cutAfterUp) { res.cut = true; return; }
    } else {
      res.bytesDown += frame.length;
      if (o.dropDown?.(frame)) return;
    }
    if (f.noise && rng() < f.noise) arrivals.push({ at: end + delay, bytes: randomBytes(rng, 1 + Math.floor(rng() * 30)), to });
    if (f.loss && rng() < f.loss) return;
    const a = { at: end + delay, bytes: frame, to };
    if (f.reorder && rng() < f.reorder && !held.get(from)) { held.set(from, a); return; }
    arrivals.push(a);
    const h = held.get(from);
    if (h) { held.set(from, undefined); arrivals.push({ ...h, at: a.at }); }
    if (f.duplicate && rng() < f.duplicate) arrivals.push({ ...a });
  };

  const onEvents = (m: SessionMachine, events: SessionEvent[]) => {
    for (const e of events) {
      if (e.kind === 'hello') m.accept(hubReceiver, now);
      else if (e.kind === 'sent' && m === caller) res.sent.push(e.transferId);
      else if (e.kind === 'failed' && m === caller) res.failed.push({ transferId: e.transferId, error: e.error });
      else if (e.kind === 'received' && m === answerer) {
        const n = (attempts.get(e.transferId) ?? 0) + 1;
        attempts.set(e.transferId, n);
        timers.push({ at: now + (o.handlerMs ?? 0), run: () => {
          if (o.hubTakes && !o.hubTakes(e.sdc, n)) return answerer.declined(e.transferId, 'database unavailable');
          res.hubGot.push(e.sdc);
          answerer.taken(e.transferId);
          if (o.replies) answerer.send(Uint8Array.from([...'receipt:'].map((c) => c.charCodeAt(0)).concat(Array.from(e.sdc.subarray(0, 8)))));
        } });
      } else if (e.kind === 'received' && m === caller) {
        res.agentGot.push(e.sdc);
        caller.taken(e.transferId);
      }
    }
  };

  const limit = o.limitMs ?? 600_000;
  while (now <= limit && !res.cut) {
    for (const m of [caller, answerer]) {
      while ((busy.get(m) as number) <= now) {
        const frame = m.next(now);
        if (!frame) break;
        transmit(m, frame);
        if (res.cut) break;
      }
    }
    if (res.cut) break;
    arrivals.sort((a, b) => a.at - b.at);
    while (arrivals.length > 0 && arrivals[0].at <= now) {
      const a = arrivals.shift() as Arrival;
      a.to.receive(a.bytes, now);
      onEvents(a.to, a.to.takeEvents());
    }
    for (const tm of timers.filter((x) => x.at <= now)) { timers.splice(timers.indexOf(tm), 1); tm.run(); }
    onEvents(caller, caller.takeEvents());
    onEvents(answerer, answerer.takeEvents());
    const wantReplies = o.replies ? res.agentGot.length < res.hubGot.length || answerer.sender.size > 0 : false;
    if (settled() && !wantReplies && arrivals.length === 0 && timers.length === 0) break;
    if ([caller, answerer].some((m) => (busy.get(m) as number) <= now && (m.nextDeadline() ?? Infinity) <= now)) continue;
    const candidates = [
      ...arrivals.map((a) => a.at), ...timers.map((x) => x.at),
      ...[caller, answerer].flatMap((m) => [busy.get(m) as number, m.nextDeadline() ?? Infinity]),
    ].filter((x) => x > now);
    const next = Math.min(...candidates);
    if (next === Infinity) break;
    now = next;
  }
  res.timeMs = now;
  hubReceiver.sessionEnded(!res.cut);
  return res;
}
