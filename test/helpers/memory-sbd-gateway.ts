import type { SbdGatewayPort } from '../../hardware/simulator/sbd-commands.js';

export interface MoRecord {
  imei: string;
  momsn: number;
  payload: Uint8Array;
}

/** The Iridium gateway in memory: MO messages kept in order, MT messages queued per IMEI. */
export class MemorySbdGateway implements SbdGatewayPort {
  readonly received: MoRecord[] = [];
  private readonly queues = new Map<string, Uint8Array[]>();
  private readonly moListeners = new Set<(record: MoRecord) => void>();

  async mo(imei: string, momsn: number, payload: Uint8Array): Promise<void> {
    const record = { imei, momsn, payload: new Uint8Array(payload) };
    this.received.push(record);
    for (const listener of this.moListeners) listener(record);
  }

  async mt(imei: string): Promise<{ payload: Uint8Array; queued: number } | undefined> {
    const queue = this.queues.get(imei);
    const payload = queue?.shift();
    if (!payload) return undefined;
    return { payload, queued: queue!.length };
  }

  queueMt(imei: string, payload: Uint8Array): void {
    const queue = this.queues.get(imei) ?? [];
    queue.push(payload);
    this.queues.set(imei, queue);
  }

  queued(imei: string): number {
    return this.queues.get(imei)?.length ?? 0;
  }

  onMo(listener: (record: MoRecord) => void): () => void {
    this.moListeners.add(listener);
    return () => this.moListeners.delete(listener);
  }
}
