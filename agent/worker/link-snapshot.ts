import { TamtamError } from '../../protocol/errors.js';
import type { InboundHandler, Link, LinkState, LinkUsage } from '../link/link.js';
import type { LinkView } from './work-job.js';

/**
 * The worker process's stand-in for the daemon's link: it reports the link's
 * kind, state and counters as the daemon saw them (for diagnostic reports),
 * and cannot send, because the daemon sends what the worker packs.
 */
export class LinkSnapshot implements Link {
  constructor(private readonly view: LinkView) {}

  get kind(): string {
    return this.view.kind;
  }

  get state(): LinkState {
    return this.view.state;
  }

  get mode(): 'always' | 'session' {
    return this.view.mode;
  }

  open(): Promise<void> {
    return Promise.reject(this.noLink());
  }

  send(): Promise<void> {
    return Promise.reject(this.noLink());
  }

  onMessage(_handler: InboundHandler): void {}

  onStateChange(_listener: (state: LinkState) => void): void {}

  usage(): LinkUsage {
    return { ...this.view.usage };
  }

  async close(): Promise<void> {}

  private noLink(): TamtamError {
    return new TamtamError('E_LINK_DOWN', "the agent's worker process has no link of its own: the daemon sends what it packs", { retryable: true });
  }
}
