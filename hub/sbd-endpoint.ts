import { DirectIpClient } from './sbd/directip-client.js';
import { DirectIpServer } from './sbd/directip-server.js';
import { SbdBridge } from './sbd/sbd-bridge.js';
import type { HubLog } from './hub-runtime.js';
import type { StreamReceiver } from './receivers/stream-receiver.js';
import type { CentreRegistry } from './registry/centre-registry.js';

export interface SbdEndpointOptions {
  receiver: StreamReceiver;
  registry: CentreRegistry;
  /** Where the Iridium gateway delivers mobile-originated messages (DirectIP MO). */
  host?: string;
  port: number;
  /** The gateway's DirectIP MT endpoint, for the hub's messages to modems. */
  gateway: { host: string; port: number };
  log: HubLog;
}

export interface SbdEndpoint {
  port: number;
  stop(): Promise<void>;
}

/**
 * Iridium Short Burst Data at the hub: the gateway's MO messages reach a
 * DirectIP server, the bridge turns each modem's messages into a stream
 * session on the same receiver as modem calls, and the hub's frames go back
 * as MT messages through the gateway.
 */
export async function startSbdEndpoint(o: SbdEndpointOptions): Promise<SbdEndpoint> {
  const onError = (where: string) => (e: { code: string; message: string }) => o.log.error(where, { code: e.code, message: e.message });
  const bridge = new SbdBridge({ receiver: o.receiver, registry: o.registry, mt: new DirectIpClient(o.gateway), onError: onError('sbd') });
  const server = new DirectIpServer({ host: o.host ?? '127.0.0.1', port: o.port, onMo: (mo) => bridge.onMo(mo), onError: onError('directip') });
  await server.start();
  return {
    port: server.port,
    stop: async () => {
      await server.stop();
      await bridge.stop();
    },
  };
}
