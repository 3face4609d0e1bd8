import { TamtamError } from '../../protocol/errors.js';
import type { DriverSettings, ModemDriver } from '../modem/modem-driver.js';

export interface PppCallOptions {
  port: string;
  baudRate: number;
  flowControl: boolean;
  driver: ModemDriver;
  settings: DriverSettings;
  number?: string;
  /** Path of the chat script file, written next to the agent's data. */
  chatFile: string;
  /** `chat`'s path; default /usr/sbin/chat. */
  chat?: string;
  /** Dial on demand: pppd keeps the interface up, dials when a packet is waiting, and hangs up after `idleSeconds` without traffic. */
  demand?: { idleSeconds: number };
  /** Seconds chat waits for each answer; a satellite call takes 15–30 s to connect. */
  timeoutSeconds?: number;
}

/**
 * The chat script that brings the modem from command mode to CONNECT: the
 * same init and dial commands the raw-stream dialer sends (from the modem
 * driver), so a centre switching between the two modes changes nothing else.
 * Every failure result aborts, so pppd exits at once instead of waiting.
 */
export function chatScript(o: Pick<PppCallOptions, 'driver' | 'settings' | 'number' | 'flowControl' | 'timeoutSeconds'>): string {
  const number = o.number ?? o.driver.defaultNumber;
  if (!number) throw new TamtamError('E_CONFIG', `the ${o.driver.label} driver has no default number: set link.modem.number`);
  const commands = ['ATE0V1Q0', o.flowControl ? 'AT&K3' : 'AT&K0', ...o.driver.initCommands(o.settings)];
  const lines = [
    ...['NO CARRIER', 'BUSY', 'NO ANSWER', 'NO DIALTONE', 'ERROR'].map((r) => `ABORT ${quote(r)}`),
    `TIMEOUT ${o.timeoutSeconds ?? 60}`,
    `'' ${quote('AT')}`,
    ...commands.map((c) => `OK ${quote(c)}`),
    `OK ${quote(o.driver.dialCommand(number))}`,
    "CONNECT ''",
  ];
  return `${lines.join('\n')}\n`;
}

/** pppd's command line: no detaching (the agent owns the process), logs on stderr, the modem's lines honoured. */
export function pppdArguments(o: PppCallOptions): string[] {
  const args = [
    o.port, String(o.baudRate), 'nodetach', 'logfd', '2', 'noauth', 'lock', 'modem', o.flowControl ? 'crtscts' : 'nocrtscts',
    'connect', `${o.chat ?? '/usr/sbin/chat'} -v -f ${o.chatFile}`,
    'noipdefault', 'defaultroute', 'usepeerdns', 'maxfail', '1',
    // Dead-call detection without much traffic: an LCP echo a minute, four missed and the call is down.
    'lcp-echo-interval', '60', 'lcp-echo-failure', '4',
  ];
  if (o.demand) args.push('demand', 'idle', String(o.demand.idleSeconds), 'persist', 'holdoff', '5');
  return args;
}

/** chat's quoting: single quotes, with a quote inside escaped. */
function quote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** pppd writes "local  IP address 10.64.64.64" once IPCP is up: the call carries IP from then on. */
export function localAddressOf(logLine: string): string | undefined {
  return /local\s+IP address\s+(\d+\.\d+\.\d+\.\d+)/.exec(logLine)?.[1];
}
