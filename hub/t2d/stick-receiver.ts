import { Stick } from '../../common/t2d-stick.js';
import { StickWatcher, type StickWatcherOptions } from '../../hardware/usb/stick-watcher.js';
import { isTamtamError } from '../../protocol/errors.js';
import type { HubLog } from '../hub-runtime.js';
import type { IngestPipeline } from '../ingest/ingest-pipeline.js';
import { importStick, type StickImportOptions, type StickImportReport } from './stick-import.js';

/** How sticks are noticed; the defaults suit a hub machine, tests change them. */
export type StickWatchTuning = Partial<Omit<StickWatcherOptions, 'roots' | 'onWarning'>>;

export interface StickReceiverOptions {
  roots: string[];
  pipeline: IngestPipeline;
  log: HubLog;
  watch?: StickWatchTuning;
  onImported?: (report: StickImportReport) => void;
  /** Requests waiting for centres (see StickImportOptions.outbound). */
  outbound?: StickImportOptions['outbound'];
}

export interface StickReceiver {
  /** Stops noticing sticks, then waits for the import under way. */
  stop(): Promise<void>;
}

/**
 * The hub's T2D receiver: every stick mounted under a root is imported and
 * answered, one stick at a time, and whatever is on one is reported and
 * never stops the hub.
 */
export async function startStickReceiver(o: StickReceiverOptions): Promise<StickReceiver> {
  const { log } = o;
  const watcher = new StickWatcher({ roots: o.roots, ...o.watch, onWarning: (message) => log.info('t2d_warning', { message }) });
  let queue: Promise<void> = Promise.resolve();
  let stopping = false;
  const importAt = async (root: string) => {
    if (stopping) return;
    try {
      const report = await importStick(Stick.open(root), { pipeline: o.pipeline, log, ...(o.outbound ? { outbound: o.outbound } : {}) });
      o.onImported?.(report);
    } catch (e) {
      log.error('stick_failed', { root, code: isTamtamError(e) ? e.code : 'E_INTERNAL', reason: (e as Error).message, message: 'the stick can be pulled; insert it again to retry' });
    }
  };
  watcher.on('inserted', (root) => {
    log.info('stick_inserted', { root });
    queue = queue.then(() => importAt(root));
  });
  watcher.on('removed', (root) => log.info('stick_removed', { root }));
  await watcher.start();
  log.info('t2d_watching', { roots: o.roots });
  return {
    stop: async () => {
      stopping = true;
      await watcher.stop();
      await queue;
    },
  };
}
