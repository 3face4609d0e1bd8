/**
 * Replies (receipts, answers) waiting for a centre that calls in over a byte
 * stream. An item leaves the store only once the centre confirmed it (its
 * "complete" status), so a reply whose call dropped goes out on the next call.
 */
export interface OutboundStore {
  /** Queues a reply; returns its id. */
  put(centre: string, payload: Uint8Array): Promise<string>;
  /** What waits for the centre, oldest first. */
  pending(centre: string): Promise<{ id: string; payload: Uint8Array }[]>;
  /** The centre confirmed it: forget it. Unknown ids are ignored. */
  delivered(centre: string, id: string): Promise<void>;
}

/** For tests and an embedded hub: replies wait in memory, and a hub restart loses them (the centre asks again after its receipt timeout). */
export class MemoryOutboundStore implements OutboundStore {
  private readonly items = new Map<string, Map<string, Uint8Array>>();
  private next = 1;

  put(centre: string, payload: Uint8Array): Promise<string> {
    const id = String(this.next++);
    let forCentre = this.items.get(centre);
    if (!forCentre) this.items.set(centre, (forCentre = new Map()));
    forCentre.set(id, payload.slice());
    return Promise.resolve(id);
  }

  pending(centre: string): Promise<{ id: string; payload: Uint8Array }[]> {
    return Promise.resolve([...(this.items.get(centre) ?? [])].map(([id, payload]) => ({ id, payload: payload.slice() })));
  }

  delivered(centre: string, id: string): Promise<void> {
    const forCentre = this.items.get(centre);
    forCentre?.delete(id);
    if (forCentre?.size === 0) this.items.delete(centre);
    return Promise.resolve();
  }
}
