/**
 * What a simulated modem says about itself. The text follows the shape of
 * the real answers (an Iridium 9522B/9555 reports "Iridium" and "IRIDIUM 9500
 * Family", a multi-line +CGMR, ATI4 the product, ATI5 the 8816 country code)
 * so that a driver identifying the modem by these strings is exercised; the
 * version numbers themselves are made up.
 */
export type ModemModel = 'iridium' | 'thuraya' | 'hayes';

export interface ModemIdentity {
  manufacturer: string;
  model: string;
  revision: string[];
  /** ATI0 .. ATI7. */
  info: string[];
  /** +CSQ text for a signal value (Iridium bars 0..5; otherwise an RSSI 0..31 or 99). */
  csq(signal: number): string;
  /** Signal values the model can report. */
  signalRange: { min: number; max: number; unknown?: number };
  defaultSignal: number;
}

export function modemIdentity(model: ModemModel): ModemIdentity {
  switch (model) {
    case 'iridium':
      return {
        manufacturer: 'Iridium',
        model: 'IRIDIUM 9500 Family',
        revision: [
          'Call Processor Version: TA21004 (simulated)',
          'Modem DSP Version: 1.7 svn: 2358',
          'DBB Version: 0x0001 (ASIC)',
          'RFA VersionSrev: 0x0007 LMX:0x002e PA:0x0005',
          'NVM Version: KVS',
          'Hardware Version: BOOT07d2/9555NBDA-01/04/RAW0c',
        ],
        info: ['2400', '0000', 'OK', 'TA21004', 'IRIDIUM 9500 Family', '8816', '0', 'BOOT07d2/9555NBDA-01/04/RAW0c'],
        csq: (signal) => `+CSQ:${signal}`,
        signalRange: { min: 0, max: 5 },
        defaultSignal: 5,
      };
    case 'thuraya':
      return {
        manufacturer: 'Thuraya',
        model: 'Thuraya XT-PRO',
        revision: ['XT-PRO software 4.1.0 (simulated)'],
        info: ['Thuraya XT-PRO', '0000', 'OK', '4.1.0', 'Thuraya XT-PRO GmPRS', '0', '0', '0'],
        csq: (signal) => `+CSQ: ${signal},99`,
        signalRange: { min: 0, max: 31, unknown: 99 },
        defaultSignal: 25,
      };
    case 'hayes':
      return {
        manufacturer: 'Tamtam',
        model: 'Hayes-compatible data modem (simulated)',
        revision: ['1.0'],
        info: ['9600', '0000', 'OK', '1.0', 'Hayes-compatible data modem (simulated)', '0', '0', '0'],
        csq: (signal) => `+CSQ: ${signal},99`,
        signalRange: { min: 0, max: 31, unknown: 99 },
        defaultSignal: 25,
      };
  }
}
