import { parseArgs } from 'node:util';
import { ModemSimulator, type ModemSimulatorOptions } from '../hardware/simulator/modem-simulator.js';
import { isTamtamError } from '../protocol/errors.js';

/**
 * Runs a simulated satellite modem until Ctrl-C, for trying the agent or
 * `tamtam modem probe` by hand without hardware:
 *
 *   node dist/scripts/modem-sim.js --target 127.0.0.1:4000 --kbps 2.4 --rtt-ms 1500
 *
 * Every dialled number's call goes to --target (the hub's --stream-port).
 */
const usage = `usage: node dist/scripts/modem-sim.js [options]
  --target HOST:PORT    where calls are delivered (127.0.0.1 only); without it every dial gets NO CARRIER
  --model NAME          iridium (default), thuraya or hayes
  --kbps N              link rate both ways (default 2.4); --up-kbps / --down-kbps set one way
  --rtt-ms N            round-trip time (default 1500)
  --drop-every-s N      drop each call after N seconds connected
  --ber P               bit error rate on data, e.g. 1e-5
  --signal N            Iridium bars 0..5, or RSSI 0..31 for thuraya/hayes
  --guard-ms N          escape guard time (default 1000)`;

function numberOption(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value)) throw new Error(`--${name} takes a number, not '${text}'\n${usage}`);
  return value;
}

function targetOption(text: string | undefined): ModemSimulatorOptions['target'] {
  if (text === undefined) return () => undefined;
  const match = /^(.+):(\d+)$/.exec(text);
  if (!match) throw new Error(`--target takes HOST:PORT such as 127.0.0.1:4000, not '${text}'\n${usage}`);
  const target = { host: match[1], port: Number(match[2]) };
  return () => target;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      target: { type: 'string' }, model: { type: 'string' }, kbps: { type: 'string' }, 'up-kbps': { type: 'string' },
      'down-kbps': { type: 'string' }, 'rtt-ms': { type: 'string' }, 'drop-every-s': { type: 'string' }, ber: { type: 'string' },
      signal: { type: 'string' }, 'guard-ms': { type: 'string' }, help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(usage);
    return;
  }
  const kbps = numberOption('kbps', values.kbps);
  const modem = await ModemSimulator.start({
    target: targetOption(values.target),
    model: values.model as ModemSimulatorOptions['model'],
    upKbps: numberOption('up-kbps', values['up-kbps']) ?? kbps,
    downKbps: numberOption('down-kbps', values['down-kbps']) ?? kbps,
    rttMs: numberOption('rtt-ms', values['rtt-ms']),
    dropEverySeconds: numberOption('drop-every-s', values['drop-every-s']),
    ber: numberOption('ber', values.ber),
    signal: numberOption('signal', values.signal),
    guardTimeMs: numberOption('guard-ms', values['guard-ms']),
  });
  const time = () => new Date().toISOString().slice(11, 23);
  modem.on('command', (line) => console.log(`${time()} DTE> ${line}`));
  modem.on('connect', (number) => console.log(`${time()} call to ${number} connected`));
  modem.on('hangup', (reason) => console.log(`${time()} call ended (${reason}); ${JSON.stringify(modem.stats())}`));
  modem.on('log', (message) => console.log(`${time()} ${message}`));
  console.log(`Simulated modem on ${modem.path}`);
  console.log(`Try: tamtam modem probe ${modem.path}`);
  console.log('Ctrl-C stops it.');

  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await modem.close();
  console.log(`stopped; ${JSON.stringify(modem.stats())}`);
}

main().catch((e: unknown) => {
  console.error(isTamtamError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e));
  process.exitCode = 1;
});
