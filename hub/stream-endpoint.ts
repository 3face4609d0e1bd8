import { PgOutboundStore } from './db/pg-outbound-store.js';
import type { HubDatabase } from './db/hub-database.js';
import type { HubLog } from './hub-runtime.js';
import type { ReceiverHandler } from './receivers/mqtt-receiver.js';
import { StreamReceiver, type CentreStatus } from './receivers/stream-receiver.js';
import { CentreStatus as Status, type CentreRegistry } from './registry/centre-registry.js';

export interface StreamEndpointOptions {
  db: HubDatabase;
  registry: CentreRegistry;
  onUp: ReceiverHandler;
  host?: string;
  port: number;
  /** Partial transfers survive a hub restart here. */
  stateDir: string;
  log: HubLog;
  /** Round trip of the slowest links calling in, for timing re-asks. */
  rttMs?: number;
}

/**
 * The hub's TCP endpoint for calls that carry chunk frames: modem data calls
 * delivered by the satellite operator's gateway (Iridium RUDICS), or centres
 * whose network blocks MQTT. Replies wait in the database until the centre
 * confirms them, so a receipt whose call dropped goes out on the next call.
 */
export async function startStreamEndpoint(o: StreamEndpointOptions): Promise<StreamReceiver> {
  const receiver = new StreamReceiver({
    host: o.host ?? '127.0.0.1',
    port: o.port,
    onUp: o.onUp,
    centreStatus: async (matricule): Promise<CentreStatus> => {
      const centre = await o.registry.get(matricule);
      if (!centre) return 'unknown';
      return centre.status === Status.suspended ? 'suspended' : 'ok';
    },
    outbound: new PgOutboundStore(o.db),
    stateDir: o.stateDir,
    onError: (e) => o.log.error('stream', { code: e.code, message: e.message }),
    ...(o.rttMs ? { rttMs: o.rttMs } : {}),
  });
  await receiver.start();
  return receiver;
}
