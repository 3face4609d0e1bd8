import type { ExecutionContext } from 'ava';
import type { Socket } from 'node:net';
import { ModemSimulator, type ModemSimulatorOptions } from '../../hardware/simulator/modem-simulator.js';
import { CallServer, SerialTerminal } from './serial-terminal.js';

/** A link fast enough for tests to run in milliseconds, with a short escape guard time. */
export const FAST_LINK = { upKbps: 100, downKbps: 100, rttMs: 20, connectDelayMs: 20, guardTimeMs: 100 };

export interface ModemRig {
  server: CallServer;
  modem: ModemSimulator;
  dte: SerialTerminal;
}

/**
 * A simulated modem whose calls reach a TCP server on 127.0.0.1, with its DTE
 * side open through serialport; all three are closed when the test ends.
 */
export async function modemRig(t: ExecutionContext, options: Partial<ModemSimulatorOptions> = {}): Promise<ModemRig> {
  const server = await CallServer.start();
  const modem = await ModemSimulator.start({ target: () => server.target, ...FAST_LINK, ...options });
  const dte = await SerialTerminal.open(modem.path);
  t.teardown(async () => {
    await dte.close();
    await modem.close();
    await server.close();
  });
  return { server, modem, dte };
}

/** Dials and returns the hub's end of the call. */
export async function dialHub(dte: SerialTerminal, server: CallServer, number = '00881600005123'): Promise<Socket> {
  const answered = server.nextCall();
  const reply = await dte.command(`ATD${number}`);
  if (!reply.includes('CONNECT 9600')) throw new Error(`the dial was answered ${JSON.stringify(reply)}, not CONNECT 9600`);
  return answered;
}

export { seededRandom } from './acts.js';
