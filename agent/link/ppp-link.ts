import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { createModemDriver } from '../../hardware/modem/drivers/create-modem-driver.js';
import { chatScript, localAddressOf, pppdArguments } from '../../hardware/ppp/pppd-options.js';
import { TamtamError } from '../../protocol/errors.js';
import type { PppLinkConfig } from './link-config.js';
import type { InboundHandler, Link, LinkState, LinkUsage } from './link.js';
import { MqttLink } from './mqtt-link.js';
import { SessionMeter } from './session-meter.js';

export interface PppLinkOptions {
  centre: string;
  config: PppLinkConfig;
  /** The agent's data folder: the chat script is written there. */
  dataDir: string;
  /** How long the call may take to carry IP. Default 120 s. */
  upTimeoutMs?: number;
  now?: () => number;
}

/**
 * MQTT over a modem call carried by pppd (Thuraya GmPRS, or Iridium data
 * with PPP). Without `demandIdleSeconds` every session dials, sends, and
 * hangs up by stopping pppd; with it, pppd stays and dials when MQTT has
 * something to say, hanging up after that many idle seconds.
 */
export class PppLink implements Link {
  readonly kind = 'ppp';
  readonly mode = 'session';
  private readonly mqtt: MqttLink;
  private readonly meter: SessionMeter;
  private pppd: ChildProcess | undefined;
  private log: string[] = [];

  constructor(private readonly o: PppLinkOptions) {
    const c = o.config;
    this.meter = new SessionMeter(c.profile, o.now);
    this.mqtt = new MqttLink({
      url: c.url, centre: o.centre, username: c.username, password: c.password, profile: c.profile, ...(o.now ? { now: o.now } : {}),
      // A satellite round trip is seconds: a short connect timeout would give up on a call that works.
      connectTimeoutMs: Math.max(30_000, 10 * c.profile.rttMs),
    });
  }

  get state(): LinkState {
    return this.pppd ? this.mqtt.state : 'down';
  }

  async open(signal?: AbortSignal): Promise<void> {
    if (!this.pppd) await this.startPppd(signal);
    await this.mqtt.open(signal);
  }

  send(payload: Uint8Array, signal?: AbortSignal): Promise<void> {
    return this.mqtt.send(payload, signal);
  }

  onMessage(handler: InboundHandler): void {
    this.mqtt.onMessage(handler);
  }

  onStateChange(listener: (state: LinkState) => void): void {
    this.mqtt.onStateChange(listener);
  }

  usage(): LinkUsage {
    const u = this.mqtt.usage();
    return { ...u, ...this.meter.read(u) };
  }

  async close(): Promise<void> {
    await this.mqtt.close();
    if (!this.o.config.demandIdleSeconds) await this.stopPppd();
  }

  private async startPppd(signal?: AbortSignal): Promise<void> {
    const c = this.o.config;
    if (!existsSync(c.pppd)) throw new TamtamError('E_CONFIG', `pppd is not at ${c.pppd}: install it (Debian: apt-get install ppp) or set link.pppd`);
    const chatFile = join(this.o.dataDir, 'tamtam.chat');
    const driver = createModemDriver(c.modem.driver);
    const settings = { ...(c.modem.apn ? { apn: c.modem.apn } : {}), ...(c.modem.bearer ? { bearer: c.modem.bearer } : {}) };
    writeFileAtomic(chatFile, chatScript({ driver, settings, number: c.modem.number, flowControl: c.modem.flowControl }));
    const args = pppdArguments({
      port: c.modem.port, baudRate: c.modem.baudRate, flowControl: c.modem.flowControl, driver, settings, number: c.modem.number, chatFile,
      ...(c.demandIdleSeconds ? { demand: { idleSeconds: c.demandIdleSeconds } } : {}),
    });
    this.log = [];
    const child = spawn(c.pppd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.pppd = child;
    this.meter.begin(this.mqtt.usage());
    const ended = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    void ended.then(() => {
      if (this.pppd === child) this.pppd = undefined;
      this.meter.end(this.mqtt.usage());
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(this.failure(`no IP address after ${(this.o.upTimeoutMs ?? 120_000) / 1000} s`)), this.o.upTimeoutMs ?? 120_000);
        const onAbort = () => reject(new TamtamError('E_ABORTED', 'the PPP call was cancelled'));
        signal?.addEventListener('abort', onAbort, { once: true });
        const onLine = (chunk: Buffer) => {
          for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
            this.log = [...this.log.slice(-19), line];
            // In demand mode pppd brings the interface up before dialling: that is enough to open MQTT, which makes it dial.
            if (localAddressOf(line) || (c.demandIdleSeconds && /Starting link|Using interface/.test(line))) resolve();
          }
        };
        child.stdout!.on('data', onLine);
        child.stderr!.on('data', onLine);
        void ended.then((code) => reject(this.failure(`pppd exited with code ${code}`)));
        child.once('error', (e) => reject(this.failure(e.message)));
        const cleanup = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        };
        ended.finally(cleanup).catch(() => {});
      });
    } catch (e) {
      await this.stopPppd();
      throw e;
    }
  }

  private failure(why: string): TamtamError {
    const tail = this.log.slice(-5).join(' | ');
    return new TamtamError('E_DIAL_FAILED', `the PPP call did not come up: ${why}${tail ? ` (pppd said: ${tail})` : ''}; run 'tamtam modem probe ${this.o.config.modem.port}' to check the modem and signal`, { retryable: true });
  }

  private async stopPppd(): Promise<void> {
    const child = this.pppd;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // SIGTERM makes pppd terminate LCP and drop DTR: the modem hangs up.
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
