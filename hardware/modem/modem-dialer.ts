import type { ByteStream, Dialer } from '../../common/byte-stream.js';
import { OpenOnce } from '../../common/open-once.js';
import { isTamtamError } from '../../protocol/errors.js';
import { abortError } from '../at/async-lock.js';
import { Modem, type ModemOptions } from './modem.js';
import type { ModemDriverName } from './modem-driver.js';

/** A modem's options; the dialer defaults the driver to Iridium data and the rate to 19200, what Iridium and Thuraya terminals ship with. */
export type ModemDialerOptions = Omit<ModemOptions, 'driver'> & { driver?: ModemDriverName };

/**
 * Dials the hub through a serial modem. The port is opened at the first dial
 * and kept, locked against other programs, while the dialer is in use: a
 * satellite terminal needs no re-init between calls. dispose() lets it go.
 */
export class ModemDialer implements Dialer {
  readonly kind = 'modem';
  private readonly modem = new OpenOnce(() => Modem.open(this.modemOptions()));

  constructor(readonly options: ModemDialerOptions) {}

  async dial(signal?: AbortSignal): Promise<ByteStream> {
    if (signal?.aborted) throw abortError(signal, 'the dial');
    const modem = await this.open();
    try {
      return await modem.dial(signal);
    } catch (e) {
      // A port that went away (unplugged adapter) is reopened at the next dial, which then says clearly what is wrong.
      if (isTamtamError(e, 'E_LINK_DOWN') || modem.engine.isClosed) await this.dispose();
      throw e;
    }
  }

  /** The modem, opened if needed: for a status page that wants its signal between calls. */
  open(): Promise<Modem> {
    return this.modem.get();
  }

  /** Hangs up any call and closes the port. */
  async dispose(): Promise<void> {
    const modem = await this.modem.take();
    await modem?.close();
  }

  private modemOptions(): ModemOptions {
    const o = this.options;
    return { ...o, baudRate: o.baudRate ?? 19_200, driver: o.driver ?? 'iridium-csd', flowControl: o.flowControl ?? false };
  }
}
