import { dirname, join, resolve } from 'node:path';
import { TamtamError } from '../../protocol/errors.js';
import { loadAgentConfig, parseAgentConfig, writeAgentConfig, type AgentConfig, type AgentConfigInput, type T2dConfig } from '../config.js';
import { chooseLink, type ChosenLink } from './choose-link.js';
import { chooseSource } from './choose-source.js';
import { certificateFacts, checkInstalledCa, enrolCentre, isEnrolled, readCaFile } from './enrol-step.js';
import { describeModem } from './find-modems.js';
import { findSticks } from './find-sticks.js';
import type { Prompter } from './prompter.js';
import { checkBrokerUrl, checkMatricule, readExistingConfig, withoutPassword, type ExistingConfig, type SetupOptions, type SetupResult } from './setup-options.js';
import type { TestReportResult } from './test-report.js';

/** How long the test SDC may take by link kind: a satellite call dials, SBD waits for its mailbox. */
const TEST_SECONDS: Record<string, number> = { mqtt: 60, tcp: 60, ppp: 300, modem: 300, sbd: 600 };

type EnrolPlan = { kind: 'installed' } | { kind: 'enrol'; url: string; token: string; username?: string; password?: string; caFile?: string };

async function chooseSticks(o: SetupOptions, existing: ExistingConfig | undefined, p: Prompter): Promise<Partial<T2dConfig> | undefined> {
  if (existing?.input.t2d) return existing.input.t2d;
  const found = findSticks(o.stickRoots);
  if (found.mounted.length === 0) return undefined;
  const also = await p.confirm({ text: `A USB stick is mounted at ${found.mounted[0]}. Also sync by USB stick whenever one is inserted?`, default: true, option: 'yes' });
  return also ? { roots: found.roots } : undefined;
}

/** Asked before anything is written: the token, the broker to enrol through, the operator's CA. Nothing when the keys are there. */
async function planEnrolment(o: SetupOptions, cfg: AgentConfig, p: Prompter): Promise<EnrolPlan> {
  const cert = certificateFacts(cfg.certificate);
  const installed = isEnrolled(cfg) && cert?.subject === cfg.centre;
  if (installed && !o.token) {
    if (o.ca) checkInstalledCa(cfg, o.ca);
    p.say(`Already enrolled: certificate for ${cert!.subject}, valid until ${cert!.validTo} (${cfg.certificate}).`);
    return { kind: 'installed' };
  }
  const why = installed ? 'enrols again (a token was given)' : cert && cert.subject !== cfg.centre ? `has only a certificate for ${cert.subject} here: it enrols` : 'has no certificate here yet: it enrols';
  p.say(`${cfg.centre} ${why} with the hub now, with the one-time token from the hub operator.`);
  const token = o.token ?? await p.ask({
    text: 'The enrolment token from the hub operator', example: 'tt_Q2hhbmdlTWUtLTMyLWJ5dGVzLW9mLXJhbmRvbQ', option: 'token',
    validate: (a) => (/^tt_[A-Za-z0-9_-]{8,}$/.test(a) ? undefined : "a token starts with tt_ followed by letters and digits; type it exactly as the hub operator gave it"),
  });
  const l = cfg.link;
  let url: string;
  if (l.kind === 'mqtt' || l.kind === 'ppp') url = l.url;
  else if (o.broker) url = o.broker;
  else {
    url = await p.ask({
      text: `Enrolment runs over MQTT once. The hub's broker, reachable from here now (the terminal's IP service, or a phone's connection); or install centre.key, centre.crt and hub.crt in ${dirname(cfg.certificate)} and run the set-up again`,
      example: 'mqtt://hub.example.org:1883', option: 'broker', validate: checkBrokerUrl,
    });
  }
  const caFile = o.ca ?? await p.ask({
    text: "The hub's CA certificate file, if the hub operator gave you one: the hub's answer is then checked against it", example: '/media/usb0/ca.crt', default: '', option: 'ca',
    validate: (a) => {
      try {
        readCaFile(resolve(o.cwd, a));
        return undefined;
      } catch (e) {
        return (e as Error).message;
      }
    },
  });
  const creds = l.kind === 'mqtt' || l.kind === 'ppp' ? { ...(l.username ? { username: l.username } : {}), ...(l.password ? { password: l.password } : {}) } : {};
  return { kind: 'enrol', url, token, ...creds, ...(caFile !== '' ? { caFile: resolve(o.cwd, caFile) } : {}) };
}

/** What to check when the link failed, in the technician's terms, with the port to probe. */
function linkHint(link: AgentConfig['link']): string {
  const probe = (port: string) => `run 'tamtam modem probe ${port}'`;
  switch (link.kind) {
    case 'mqtt':
      return 'check that this machine reaches the broker (network cable, satellite terminal switched on and online, firewall), and the broker URL';
    case 'tcp':
      return "check that this machine reaches the hub's stream endpoint (network, firewall)";
    case 'ppp':
      return `check the antenna has a clear view of the sky and the APN, and ${probe(link.modem.port)}`;
    case 'modem':
      return `check the antenna has a clear view of the sky and ${probe(link.modem.port)}; the hub operator can tell whether the call arrived`;
    case 'sbd':
      return `check the antenna has a clear view of the sky and ${probe(link.port)}; the hub operator must have registered this modem's IMEI`;
  }
}

/** A failure once the config is written: the answers are kept, and the message gives the exact command to go on with. */
function keptConfig(e: unknown, o: SetupOptions, step: string, link: AgentConfig['link']): TamtamError {
  const err = e instanceof TamtamError ? e : new TamtamError('E_INTERNAL', (e as Error)?.message ?? String(e), { cause: e });
  const newToken = err.code === 'E_BAD_TOKEN' || err.code === 'E_UNTRUSTED_CERT';
  const next = `${o.command} agent setup --config ${o.configPath}${newToken ? ' --token NEW_TOKEN' : ''}`;
  const hint = ['E_LINK_DOWN', 'E_TIMEOUT', 'E_DIAL_FAILED', 'E_MODEM_SILENT'].includes(err.code) ? ` Next: ${linkHint(link)}.` : '';
  return new TamtamError(err.code, `${step} failed: ${err.message.replace(/\.$/, '')}.${hint} Your answers are saved in ${o.configPath}; once this is fixed, run: ${next}`, {
    cause: e, retryable: err.retryable, details: { ...err.details, config: o.configPath, next },
  });
}

async function sendTest(config: AgentConfig, o: SetupOptions, link: ChosenLink, p: Prompter, signal?: AbortSignal): Promise<TestReportResult> {
  const seconds = o.timeoutSeconds ?? TEST_SECONDS[config.link.kind] ?? 120;
  p.say(`Sending a test SDC over ${link.label} and waiting for the hub's receipt (up to ${seconds} s)...`);
  const { AgentRuntime } = await import('../agent-runtime.js');
  const agent = await AgentRuntime.open(config);
  let result: TestReportResult;
  try {
    result = await agent.sendTestReport(seconds * 1000, signal);
  } finally {
    await agent.close();
  }
  if (!result.accepted) {
    const reason = result.reason ?? 'no reason given';
    throw new TamtamError(/suspend/i.test(reason) ? 'E_SUSPENDED' : 'E_BAD_INPUT', `the link works, but the hub refused the test SDC: ${reason}`, { details: { test: result } });
  }
  p.say(`Test SDC ${result.sequence} receipted by the hub: round trip ${(result.roundTripMs / 1000).toFixed(1)} s, ${result.bytesUp.toLocaleString('en-US')} bytes up, ${result.bytesDown.toLocaleString('en-US')} down.`);
  return result;
}

/**
 * `tamtam agent setup`: finds what can be found, asks the rest, writes the
 * config, enrols, and proves the whole path with a test SDC. The config is
 * written before enrolling and testing: answers typed at a remote centre are
 * worth keeping when the link fails, and a failure says the command to run next.
 */
export async function runSetup(o: SetupOptions, p: Prompter, signal?: AbortSignal): Promise<SetupResult> {
  const existing = readExistingConfig(o.configPath, (line) => p.say(line));
  if (existing) p.say(`Taking the answers of ${o.configPath} as given; options change them.`);
  if (o.centre && checkMatricule(o.centre)) throw new TamtamError('E_USAGE', `--centre ${o.centre}: ${checkMatricule(o.centre)}`);
  const centre = o.centre ?? existing?.config.centre
    ?? await p.ask({ text: "The centre's matricule, as the hub operator gave it", example: 'CM-CE-YDE-0001', option: 'centre', validate: checkMatricule });
  const source = await chooseSource(o, existing, p);
  const link = await chooseLink(o, existing, p);
  const dataDir = o.dataDir ? resolve(o.cwd, o.dataDir) : existing?.config.dataDir ?? join(dirname(o.configPath), 'tamtam-agent-data');
  const t2d = await chooseSticks(o, existing, p);
  const input: AgentConfigInput = { ...existing?.input, centre, dataDir, source: source.source, tables: source.tables, link: link.link, ...(t2d ? { t2d } : {}) };
  const draft = parseAgentConfig(input, dirname(o.configPath), `the agent config to write to ${o.configPath}`);
  const plan = await planEnrolment(o, draft, p);

  writeAgentConfig(o.configPath, input);
  p.say(`Wrote the agent config ${o.configPath}.`);
  const config = loadAgentConfig(o.configPath);
  if (plan.kind === 'enrol') {
    p.say(`Enrolling ${centre} with the hub through ${withoutPassword(plan.url)}${plan.caFile ? `, checking its answer against ${plan.caFile}` : ''}...`);
    try {
      await enrolCentre({ config, url: plan.url, token: plan.token, username: plan.username, password: plan.password, caFile: plan.caFile, timeoutMs: 60_000 });
    } catch (e) {
      throw keptConfig(e, o, 'enrolment', { kind: 'mqtt', url: plan.url, profile: config.link.profile });
    }
    p.say(`Enrolled: key and certificate in ${dirname(config.certificate)}.`);
  }
  let test: TestReportResult | undefined;
  if (o.test) {
    try {
      test = await sendTest(config, o, link, p, signal);
    } catch (e) {
      throw keptConfig(e, o, 'the test SDC', config.link);
    }
  }
  const cert = certificateFacts(config.certificate);
  const run = `${o.command} agent run --config ${o.configPath}`;
  return {
    configPath: o.configPath, centre, dataDir: config.dataDir, database: source.label, tables: config.tables.map((t) => t.name), backlog: source.backlog,
    link: link.label, ...(link.modem ? { modem: describeModem(link.modem) } : {}), profile: config.link.profile.name, enrolment: plan.kind === 'enrol' ? 'done now' : 'already installed', certificate: config.certificate,
    ...(cert ? { certificateValidTo: cert.validTo } : {}), ...(config.t2d ? { t2dRoots: config.t2d.roots } : {}), ...(test ? { test } : {}),
    next: [...(o.test ? [] : [`${o.command} agent sync --once --config ${o.configPath}`]), run, `ExecStart=${o.execStart} agent run --config ${o.configPath}`],
  };
}
