import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from '../common/sqlite-database.js';
import { AgentRuntime } from '../agent/agent-runtime.js';
import { loadAgentConfig, writeAgentConfig, type AgentConfigInput } from '../agent/config.js';
import { enrol } from '../agent/enrolment/enrol-client.js';
import { createCentralTable, inferColumns } from '../hub/central-tables.js';
import { hubPaths, initHubHome, loadHubHome } from '../hub/hub-home.js';
import { quietLog, startHub } from '../hub/hub-runtime.js';
import { batchFromObjects, encodeDictionary, trainDictionary } from '../protocol/index.js';
import { freePort } from './services/free-port.js';
import { fillCentreDatabase, generateActs, type ActTable } from './sample-acts.js';

/**
 * The agent as a centre runs it: `agent_batch_10k_s`, the time to pack 10,000
 * validated births into SDCs (claim, journal, encode, compress, sign,
 * encrypt, fsync to the outbox), and `agent_idle_rss_mb`, the resident memory
 * of the `tamtam agent run` daemon once it has done a centre's work and waits:
 * it sends those births and packs and sends 10,000 deaths itself, as a daemon
 * does every day. The packing runs in the daemon's worker process, which ends
 * with each pass (docs/ARCHITECTURE.md), so `agent_pass_peak_rss_mb` also
 * gives the most the daemon and its worker held together while they worked.
 */
const bin = fileURLToPath(new URL('../../bin/tamtam.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'tamtam-bench-agent-'));
const centre = 'CM-CE-YDE-0001';
const TABLES: ActTable[] = ['births', 'deaths'];
const COUNT = 10_000;
/**
 * A daemon idles for hours between batches. V8 gives back the garbage and the
 * young generation that packing grew only once its memory reducer sees the
 * process idle (about 20 s after the work), so the figure is read after 30 s;
 * the one at 8 s is printed beside it to show that difference.
 */
const IDLE_EARLY_MS = 8_000;
const IDLE_MS = 30_000;

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Extra node flags for the daemon, e.g. BENCH_NODE_FLAGS='--max-semi-space-size=1', to see what V8's heap sizing costs; never set for the reported figure. */
const nodeFlags = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

/** The resident MB of `pid` and its children (the worker, during a pass); a process gone meanwhile counts 0. */
function treeRssMb(pid: number): number {
  const read = (p: number) => {
    try {
      return rssMb(p);
    } catch {
      return 0;
    }
  };
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // gone: no children
  }
  return read(pid) + children.reduce((n, c) => n + read(c), 0);
}

/** Resident MB by what is mapped: the node binary, anonymous memory (V8's heap, WebAssembly memory, large mallocs), the malloc heap, and each library. */
function rssByMapping(pid: number): string {
  const kb = new Map<string, number>();
  let mapping = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      mapping = head[1] === process.execPath ? 'node' : (head[1]!.split('/').pop() || 'anon');
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) kb.set(mapping, (kb.get(mapping) ?? 0) + Number(rss[1]));
  }
  return [...kb].filter(([, v]) => v >= 512).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${(v / 1024).toFixed(1)}`).join(' ');
}

/** The daemon's own packing time, from its log: `agent_opened` to the `packed` event that brings it to COUNT records. */
function packTimer(): { feed(chunk: string): void; seconds(): number | undefined } {
  let partial = '';
  let opened: number | undefined;
  let packedAt: number | undefined;
  let records = 0;
  return {
    feed(chunk) {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        let e: { t?: string; event?: string; records?: number };
        try {
          e = JSON.parse(line);
        } catch {
          continue;
        }
        if (e.event === 'agent_opened') opened ??= Date.parse(e.t!);
        if (e.event === 'packed' && packedAt === undefined && (records += e.records ?? 0) >= COUNT) packedAt = Date.parse(e.t!);
      }
    },
    seconds: () => (opened === undefined || packedAt === undefined ? undefined : (packedAt - opened) / 1000),
  };
}

function trainedDictionary(hubHome: string, table: ActTable): string {
  const dict = trainDictionary(batchFromObjects(table, generateActs({ table, count: 1000, seed: 4242, centre: 'CM-LT-DLA-0042' })));
  const path = join(hubPaths(hubHome).dictionaries, `${table}.dict`);
  writeFileSync(path, encodeDictionary(dict));
  return path;
}

try {
  const hubHome = join(root, 'hub');
  initHubHome(hubHome, { mqttPort: await freePort() });
  const dictionaries = new Map(TABLES.map((t) => [t, trainedDictionary(hubHome, t)] as const));
  const hub = await startHub(loadHubHome(hubHome), { log: quietLog });
  try {
    for (const table of TABLES) await createCentralTable(hub.db, table, inferColumns(generateActs({ table, count: 200, seed: 1 })));
    const { token } = await hub.registry.add({ matricule: centre, name: 'bench' });
    const dbPath = join(root, 'centre.db');
    fillCentreDatabase(dbPath, TABLES.map((table, i) => ({ table, count: COUNT, seed: 7 + i, centre })));
    const configPath = join(root, 'agent.json');
    const configFor = (tables: ActTable[]): AgentConfigInput => ({
      centre, dataDir: join(root, 'agent'), source: { kind: 'sqlite', path: dbPath },
      tables: tables.map((name) => ({ name, dictionary: dictionaries.get(name)! })), link: { kind: 'mqtt', url: hub.brokerUrl },
    });
    // The timed pack is of births only; the daemon then finds deaths still to pack.
    writeAgentConfig(configPath, configFor(['births']));
    const config = loadAgentConfig(configPath);
    await enrol({ url: hub.brokerUrl, centre, token, keyPath: config.privateKey, certPath: config.certificate, hubCertPath: config.hubCertificate, caPath: join(config.dataDir, 'keys', 'ca.crt'), timeoutMs: 30_000 });

    const agent = await AgentRuntime.open(config);
    const t0 = process.hrtime.bigint();
    const packed = await agent.pack(true);
    const batchSecs = Number(process.hrtime.bigint() - t0) / 1e9;
    await agent.close();
    if (packed.records !== COUNT) throw new Error(`packed ${packed.records} of ${COUNT}`);

    writeAgentConfig(configPath, configFor(TABLES));
    const daemon = spawn(process.execPath, [...nodeFlags, bin, 'agent', 'run', '--config', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    const daemonPack = packTimer();
    daemon.stderr.setEncoding('utf8').on('data', daemonPack.feed);
    const exited = new Promise<void>((resolve) => daemon.once('exit', () => resolve()));
    const running = () => daemon.exitCode === null && daemon.signalCode === null;
    try {
      const centreDb = new Database(dbPath, { readonly: true });
      const exported = (table: ActTable) => (centreDb.prepare(`SELECT count(*) AS n FROM ${table} WHERE status = 4`).get() as { n: number }).n === COUNT;
      let peak = 0;
      const sampler = setInterval(() => (peak = Math.max(peak, treeRssMb(daemon.pid!))), 50);
      try {
        await until('the backlog to be packed and exported', () => {
          if (!running()) throw new Error(`the daemon exited (${daemon.exitCode ?? daemon.signalCode}) before the backlog was exported`);
          return TABLES.every(exported);
        }, 180_000);
      } finally {
        clearInterval(sampler);
        centreDb.close();
      }
      await new Promise((r) => setTimeout(r, IDLE_EARLY_MS));
      const early = rssMb(daemon.pid!);
      await new Promise((r) => setTimeout(r, IDLE_MS - IDLE_EARLY_MS));
      if (!running()) throw new Error(`the daemon exited (${daemon.exitCode ?? daemon.signalCode}) while idle`);
      const rss = rssMb(daemon.pid!);
      const smaps = readFileSync(`/proc/${daemon.pid}/smaps_rollup`, 'utf8');
      const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(smaps)![1]) / 1024;
      console.log(`acts=${COUNT} sdcs=${packed.sdcs.length} bytes=${packed.sdcs.reduce((n, s) => n + s.bytes, 0)} node=${process.version}`);
      console.log(`agent_batch_10k_s=${batchSecs.toFixed(2)}`);
      // The daemon runs with the V8 settings bin/tamtam.js gives `agent run`, so its packing time may differ from the one above.
      console.log(`agent_daemon_pack_10k_s=${daemonPack.seconds()?.toFixed(2) ?? 'unknown'}`);
      console.log(`agent_idle_rss_mb=${rss.toFixed(1)} (after ${IDLE_MS / 1000} s idle; ${early.toFixed(1)} after ${IDLE_EARLY_MS / 1000} s)`);
      // RSS counts the node binary's code pages, which every node process on the machine shares.
      console.log(`agent_pass_peak_rss_mb=${peak.toFixed(1)} (the daemon and its worker while packing and sending, sampled every 50 ms)`);
      console.log(`agent_idle_private_mb=${kb('Private_Dirty').toFixed(1)} agent_idle_shared_code_mb=${kb('Shared_Clean').toFixed(1)}`);
      console.log(`agent_idle_rss_by_mapping_mb ${rssByMapping(daemon.pid!)}`);
    } finally {
      if (running()) {
        daemon.kill('SIGTERM');
        await exited;
      }
    }
  } finally {
    await hub.stop();
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
