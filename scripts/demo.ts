import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from '../common/sqlite-database.js';
import { AgentRuntime } from '../agent/agent-runtime.js';
import { loadAgentConfig, writeAgentConfig } from '../agent/config.js';
import { enrol } from '../agent/enrolment/enrol-client.js';
import { centralSummary } from '../hub/central-summary.js';
import { StaffStore } from '../hub/dashboard/staff-store.js';
import type { Queryable } from '../hub/db/hub-database.js';
import { createCentralTable, inferColumns } from '../hub/central-tables.js';
import { hubPaths, initHubHome, loadHubHome } from '../hub/hub-home.js';
import { quietLog, startHub } from '../hub/hub-runtime.js';
import { batchFromObjects, encodeDictionary, trainDictionary } from '../protocol/index.js';
import { ModemSimulator } from '../hardware/simulator/modem-simulator.js';
import { freePort } from './services/free-port.js';
import { findExecutable } from './services/service-sandbox.js';
import { ACT_TABLES, fillCentreDatabase, generateActs, type ActTable } from './sample-acts.js';

/**
 * The whole of Tamtam on one machine: an embedded hub (PostgreSQL and MQTT
 * broker in-process), four centres with their own SQLite databases of sample
 * acts (one of them with no Internet, dialling the hub through a simulated
 * satellite modem on a pseudo-terminal), enrolment, one sync each, and what
 * reached the central tables. Each
 * run starts from a clean demo-data/ folder, so it can be run again.
 */
const args = process.argv.slice(2);
/** `--serve`: keep the hub and its dashboard running after the sync, until Ctrl-C. */
const serve = args.includes('--serve');
const root = resolve(args.find((a) => !a.startsWith('--')) ?? 'demo-data');
const DASHBOARD_PORT = Number(process.env.TAMTAM_DEMO_HTTP_PORT ?? 8080);
interface DemoCentre {
  matricule: string;
  name: string;
  city: string;
  country: 'cm' | 'sn';
  seed: number;
  /** A centre with no Internet: its agent dials the hub through a (simulated) satellite modem. */
  satellite?: boolean;
}
const CENTRES: DemoCentre[] = [
  { matricule: 'CM-CE-YDE-0001', name: 'Yaoundé 1er', city: 'Yaoundé', country: 'cm', seed: 11 },
  { matricule: 'CM-LT-DLA-0002', name: 'Douala 3e', city: 'Douala', country: 'cm', seed: 12 },
  { matricule: 'SN-DK-DKR-0003', name: 'Dakar Plateau', city: 'Dakar', country: 'sn', seed: 13 },
  { matricule: 'CM-EN-MKL-0004', name: 'Mokolo', city: 'Mokolo', country: 'cm', seed: 14, satellite: true },
];
const COUNTS: Record<ActTable, number> = { births: 1200, deaths: 400, marriages: 300 };
/** A satellite link at 9.6 kbps costs seconds per kilobyte: that centre has fewer acts waiting. */
const SATELLITE_COUNTS: Record<ActTable, number> = { births: 120, deaths: 40, marriages: 20 };
const SATELLITE = { upKbps: 9.6, downKbps: 9.6, rttMs: 1500 };
const say = (s: string) => process.stdout.write(s + '\n');

async function main(): Promise<number> {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const started = Date.now();

  say(`Hub: new CA and certificates in ${join(root, 'hub')}; embedded PostgreSQL and MQTT broker on 127.0.0.1`);
  initHubHome(join(root, 'hub'), { mqttPort: await freePort(), streamPort: await freePort(), ...(serve ? { http: { port: DASHBOARD_PORT } } : {}) });
  const dictionaries = new Map<ActTable, string>();
  for (const table of ACT_TABLES) {
    // Dictionaries come from acts of another place and seed than any centre's.
    const dict = trainDictionary(batchFromObjects(table, generateActs({ table, count: 1000, seed: 9001, centre: 'CM-OU-BFS-0099' })));
    const path = join(hubPaths(join(root, 'hub')).dictionaries, `${table}.dict`);
    writeFileSync(path, encodeDictionary(dict));
    dictionaries.set(table, path);
  }
  const home = loadHubHome(join(root, 'hub'));
  const hub = await startHub(home, { log: quietLog });
  let modem: ModemSimulator | undefined;
  try {
    for (const table of ACT_TABLES) await createCentralTable(hub.db, table, inferColumns(generateActs({ table, count: 200, seed: 1 })));
    say(`Central tables: ${ACT_TABLES.join(', ')}`);

    const expected = new Map<string, number>();
    // A pseudo-terminal pair needs socat; without it the satellite centre is left out and the demo says so.
    modem = findExecutable('socat')
      ? await ModemSimulator.start({ target: () => ({ host: '127.0.0.1', port: hub.streamPort! }), ...SATELLITE, connectDelayMs: 3000 })
      : undefined;
    for (const c of CENTRES) {
      if (c.satellite && !modem) {
        say(`Centre ${c.matricule} (${c.name}): left out, its simulated satellite modem needs socat (apt-get install socat)`);
        continue;
      }
      const { token } = await hub.registry.add({ matricule: c.matricule, name: c.name, city: c.city });
      const dir = join(root, c.matricule);
      mkdirSync(dir, { recursive: true });
      const dbPath = join(dir, 'centre.db');
      fillCentreDatabase(dbPath, ACT_TABLES.map((table) => ({ table, count: (c.satellite ? SATELLITE_COUNTS : COUNTS)[table], seed: c.seed, country: c.country, centre: c.matricule })));
      // Staff have not validated every act yet: those stay home.
      const centreDb = new Database(dbPath);
      for (const table of ACT_TABLES) {
        centreDb.prepare(`UPDATE ${table} SET status = 1 WHERE numero % 10 = 0`).run();
        expected.set(`${table}/${c.matricule}`, (centreDb.prepare(`SELECT count(*) AS n FROM ${table} WHERE status = 2`).get() as { n: number }).n);
      }
      centreDb.close();

      const configPath = join(dir, 'tamtam-agent.json');
      writeAgentConfig(configPath, {
        centre: c.matricule, dataDir: join(dir, 'agent'), source: { kind: 'sqlite', path: dbPath },
        tables: ACT_TABLES.map((name) => ({ name, dictionary: dictionaries.get(name)! })), link: { kind: 'mqtt', url: hub.brokerUrl },
      });
      let config = loadAgentConfig(configPath);
      // Enrolment goes over MQTT, as from a technician's laptop; a satellite centre then switches its link to the modem.
      await enrol({ url: hub.brokerUrl, centre: c.matricule, token, keyPath: config.privateKey, certPath: config.certificate, hubCertPath: config.hubCertificate, caPath: join(config.dataDir, 'keys', 'ca.crt'), timeoutMs: 30_000 });
      if (c.satellite) {
        writeAgentConfig(configPath, {
          centre: c.matricule, dataDir: join(dir, 'agent'), source: { kind: 'sqlite', path: dbPath },
          tables: ACT_TABLES.map((name) => ({ name, dictionary: dictionaries.get(name)! })),
          link: { kind: 'modem', modem: { port: modem!.path, driver: 'iridium-csd' }, profile: { base: 'iridium-csd', name: 'iridium-demo', ...SATELLITE } },
        });
        config = loadAgentConfig(configPath);
      }
      const agent = await AgentRuntime.open(config);
      try {
        const r = await agent.syncOnce({ timeoutMs: 120_000 });
        // The dashboard shows link usage and backlog as centres report them: each sends its report now rather than in 6 hours.
        if (serve) await agent.sendTestReport(120_000);
        const usage = agent.link.usage();
        const how = c.satellite ? `over a simulated satellite modem (${SATELLITE.upKbps} kbps, ${SATELLITE.rttMs / 1000} s round trip), ${usage.sessions} call(s), ${(usage.airtimeMs / 1000).toFixed(0)} s of airtime, US$${usage.costUsd.toFixed(2)}` : 'over MQTT';
        say(`Centre ${c.matricule} (${c.name}): enrolled; sent ${r.packed.records} validated acts in ${r.packed.sdcs.length} SDCs ${how}; ${r.receipts} receipts, ${(usage.bytesUp / 1024).toFixed(1)} KB up (${(usage.bytesUp / Math.max(1, r.packed.records)).toFixed(0)} B an act)`);
      } finally {
        await agent.close();
      }
    }

    say('\nCentral PostgreSQL:');
    say(`  ${'table'.padEnd(10)} ${'centre'.padEnd(16)} ${'acts'.padStart(6)}  expected`);
    let ok = true;
    const counts = await centralSummary(hub.db);
    for (const [key, want] of expected) {
      const [table, centre] = key.split('/');
      const got = counts.find((c) => c.table === table && c.centre === centre)?.versions ?? 0;
      ok &&= got === want;
      say(`  ${table.padEnd(10)} ${centre.padEnd(16)} ${String(got).padStart(6)}  ${want}${got === want ? '' : '  MISMATCH'}`);
    }
    const sample = await hub.db.query(`SELECT c.matricule, b.source_numero, b.child_surname, b.child_firstnames, b.child_birth_date, b.child_birth_town
      FROM central.births b JOIN centres c ON c.id = b.centre_id ORDER BY b.hub_numero LIMIT 3`);
    say('\nA few births as the hub keeps them:');
    for (const r of sample.rows) say(`  ${r.matricule} #${r.source_numero}: ${r.child_firstnames} ${r.child_surname}, born ${r.child_birth_date instanceof Date ? r.child_birth_date.toISOString().slice(0, 10) : r.child_birth_date} in ${r.child_birth_town}`);
    say(`\n${ok ? 'Every validated act reached the central tables once' : 'SOME ACTS ARE MISSING'}; acts not yet validated stayed at their centre. ${((Date.now() - started) / 1000).toFixed(1)} s.`);
    if (serve && ok) await serveDashboard(hub.db, hub.httpPort!);
    return ok ? 0 : 1;
  } finally {
    await modem?.close();
    await hub.stop();
  }
}

/** A staff account with a fresh password, then the hub runs until Ctrl-C. */
async function serveDashboard(db: Queryable, port: number): Promise<void> {
  const password = randomBytes(9).toString('base64url');
  await new StaffStore(db).add({ username: 'admin', password, role: 'admin', cities: null });
  say(`\nDashboard: http://127.0.0.1:${port}/  (log in as admin, password ${password}). Ctrl-C stops the hub.`);
  await new Promise<void>((done) => {
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
}

main().then((code) => {
  process.exitCode = code;
}, (e) => {
  process.stderr.write(`demo failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
