import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { AgentRuntime } from '../agent/agent-runtime.js';
import { loadAgentConfig, writeAgentConfig } from '../agent/config.js';
import { enrol } from '../agent/enrolment/enrol-client.js';
import { createCentralTable, inferColumns } from '../hub/central-tables.js';
import { hubPaths, initHubHome, loadHubHome } from '../hub/hub-home.js';
import { quietLog, startHub } from '../hub/hub-runtime.js';
import { batchFromObjects, encodeDictionary, trainDictionary } from '../protocol/index.js';
import { freePort } from './services/free-port.js';
import { fillCentreDatabase, generateActs } from './sample-acts.js';

/**
 * The agent as a centre runs it: `agent_batch_10k_s`, the time to pack 10,000
 * validated births into SDCs (claim, journal, encode, compress, sign,
 * encrypt, fsync to the outbox), and `agent_idle_rss_mb`, the resident memory
 * of the `tamtam agent run` daemon once its backlog is exported and it waits.
 */
const bin = fileURLToPath(new URL('../../bin/tamtam.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'tamtam-bench-agent-'));
const centre = 'CM-CE-YDE-0001';

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Extra node flags for the daemon, e.g. BENCH_NODE_FLAGS='--max-semi-space-size=1', to see what V8's heap sizing costs. */
const nodeFlags = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

try {
  initHubHome(join(root, 'hub'), { mqttPort: await freePort() });
  const dict = trainDictionary(batchFromObjects('births', generateActs({ table: 'births', count: 1000, seed: 4242, centre: 'CM-LT-DLA-0042' })));
  const dictPath = join(hubPaths(join(root, 'hub')).dictionaries, 'births.dict');
  writeFileSync(dictPath, encodeDictionary(dict));
  const hub = await startHub(loadHubHome(join(root, 'hub')), { log: quietLog });
  try {
    await createCentralTable(hub.db, 'births', inferColumns(generateActs({ table: 'births', count: 200, seed: 1 })));
    const { token } = await hub.registry.add({ matricule: centre, name: 'bench' });
    const dbPath = join(root, 'centre.db');
    fillCentreDatabase(dbPath, [{ table: 'births', count: 10_000, seed: 7, centre }]);
    const configPath = join(root, 'agent.json');
    writeAgentConfig(configPath, { centre, dataDir: join(root, 'agent'), source: { kind: 'sqlite', path: dbPath }, tables: [{ name: 'births', dictionary: dictPath }], link: { kind: 'mqtt', url: hub.brokerUrl } });
    const config = loadAgentConfig(configPath);
    await enrol({ url: hub.brokerUrl, centre, token, keyPath: config.privateKey, certPath: config.certificate, hubCertPath: config.hubCertificate, caPath: join(config.dataDir, 'keys', 'ca.crt'), timeoutMs: 30_000 });

    const agent = await AgentRuntime.open(config);
    const t0 = process.hrtime.bigint();
    const packed = await agent.pack(true);
    const batchSecs = Number(process.hrtime.bigint() - t0) / 1e9;
    await agent.close();
    if (packed.records !== 10_000) throw new Error(`packed ${packed.records} of 10000`);

    const daemon = spawn(process.execPath, [...nodeFlags, bin, 'agent', 'run', '--config', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    daemon.stderr.resume();
    const centreDb = new Database(dbPath, { readonly: true });
    const exported = () => (centreDb.prepare('SELECT count(*) AS n FROM births WHERE status = 4').get() as { n: number }).n === 10_000;
    await until('the backlog to be exported', exported, 120_000);
    // Idle: nothing left to pack or send; let a few polls and GCs pass before reading its memory.
    await new Promise((r) => setTimeout(r, 8000));
    const rss = rssMb(daemon.pid!);
    const smaps = readFileSync(`/proc/${daemon.pid}/smaps_rollup`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(smaps)![1]) / 1024;
    daemon.kill('SIGTERM');
    centreDb.close();
    console.log(`acts=10000 sdcs=${packed.sdcs.length} bytes=${packed.sdcs.reduce((n, s) => n + s.bytes, 0)} node=${process.version}`);
    console.log(`agent_batch_10k_s=${batchSecs.toFixed(2)}`);
    console.log(`agent_idle_rss_mb=${rss.toFixed(1)}`);
    // RSS counts the node binary's code pages, which every node process on the machine shares.
    console.log(`agent_idle_private_mb=${kb('Private_Dirty').toFixed(1)} agent_idle_shared_code_mb=${kb('Shared_Clean').toFixed(1)}`);
  } finally {
    await hub.stop();
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
