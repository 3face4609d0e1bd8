import { TamtamError } from '../../../protocol/errors.js';
import { checkDialNumber, GSM_0707, parseCsq, type ModemDriver, type ModemDriverName } from '../modem-driver.js';

/** Any Hayes-compatible modem: nothing beyond the common init, the number comes from the config. */
export const hayesDriver: ModemDriver = {
  name: 'hayes',
  label: 'Hayes-compatible modem',
  dataMode: 'raw',
  initCommands: () => [],
  dialCommand: (number) => `ATD${checkDialNumber(number)}`,
  ...GSM_0707,
};

/**
 * Iridium circuit-switched data (9522B, 9555, 9575 and their OEM boards).
 * The bearer is 9600 bit/s V.110, asynchronous, non-transparent (RLP corrects
 * errors over the air): AT+CBST=71,0,1, as Iridium data set-ups use; the air
 * link then carries about 2.4 kbit/s. A centre whose gateway wants another
 * bearer sets it in the config (`bearer`).
 */
export const iridiumCsdDriver: ModemDriver = {
  name: 'iridium-csd',
  label: 'Iridium circuit-switched data',
  dataMode: 'raw',
  /** Iridium's own data service number: the gateway answers it and hands the call on. */
  defaultNumber: '008816000025',
  initCommands: (settings) => [`AT+CBST=${settings.bearer ?? '71,0,1'}`],
  dialCommand: (number) => `ATD${checkDialNumber(number)}`,
  ...GSM_0707,
  // The ISU answers +CSQ only once it has looked for a satellite: up to tens of seconds.
  signalTimeoutMs: 60_000,
  parseSignal: parseCsq,
};

/**
 * Thuraya GmPRS (IP over the Thuraya packet service): the PDP context names
 * the APN, ATD*99# starts the packet call, and what follows CONNECT is PPP,
 * for pppd, not chunk frames.
 */
export const thurayaGmprsDriver: ModemDriver = {
  name: 'thuraya-gmprs',
  label: 'Thuraya GmPRS',
  dataMode: 'ppp',
  defaultNumber: '*99#',
  initCommands: (settings) => {
    if (!settings.apn) throw new TamtamError('E_CONFIG', 'Thuraya GmPRS needs the access point name: set link.modem.apn to the APN your service provider gave');
    if (/["\r\n]/.test(settings.apn)) throw new TamtamError('E_CONFIG', `the APN '${settings.apn}' may not contain quotes or line breaks`);
    return [`AT+CGDCONT=1,"IP","${settings.apn}"`];
  },
  dialCommand: (number) => `ATD${checkDialNumber(number)}`,
  ...GSM_0707,
};

const DRIVERS: Record<ModemDriverName, ModemDriver> = {
  hayes: hayesDriver,
  'iridium-csd': iridiumCsdDriver,
  'thuraya-gmprs': thurayaGmprsDriver,
};

export const MODEM_DRIVER_NAMES = Object.keys(DRIVERS) as ModemDriverName[];

export function createModemDriver(name: string): ModemDriver {
  const driver = DRIVERS[name as ModemDriverName];
  if (!driver) throw new TamtamError('E_CONFIG', `unknown modem driver '${name}': use one of ${MODEM_DRIVER_NAMES.join(', ')}`);
  return driver;
}

/** The driver a modem's manufacturer and model point to, for a probe given none. */
export function guessModemDriver(identity: { manufacturer?: string; model?: string }): ModemDriverName {
  const text = `${identity.manufacturer ?? ''} ${identity.model ?? ''}`;
  if (/iridium/i.test(text)) return 'iridium-csd';
  if (/thuraya/i.test(text)) return 'thuraya-gmprs';
  return 'hayes';
}
