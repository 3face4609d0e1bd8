import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from '../common/sqlite-database.js';
import { runCli } from '../cli/main.js';
import { freePort } from '../scripts/services/free-port.js';
import { fillCentreDatabase, sharedData } from '../scripts/sample-acts.js';

const bin = fileURLToPath(new URL('../../bin/tamtam.js', import.meta.url));

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, (s) => out.push(s), (s) => err.push(s));
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** Resolves when the child prints a line containing `marker` on stderr. */
async function waitForLine(child: ReturnType<typeof spawn>, marker: string, timeoutMs: number): Promise<void> {
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${marker}' within ${timeoutMs} ms; stderr: ${seen.slice(-2000)}`)), timeoutMs);
    child.stderr!.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes(marker)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`the hub exited (${code}) before '${marker}': ${seen.slice(-2000)}`)));
  });
}

// The README's set-up, command by command: a hub with embedded PostgreSQL and broker, one centre.
test('a hub and a centre set up with the README commands sync, and hub commands work beside the running hub', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'tamtam-cli-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const hubDir = join(root, 'hub');
  const port = await freePort();
  t.is((await cli(['hub', 'init', '--dir', hubDir, '--mqtt-port', String(port), '--http-port', '0'])).code, 0);
  t.is((await cli(['hub', 'table', 'create', 'births', '--like', `${sharedData}births-5k.jsonl`, '--dir', hubDir])).code, 0);
  const added = await cli(['hub', 'centre', 'add', '--name', 'Yaoundé 1er', '--matricule', 'CM-CE-YDE-0001', '--dir', hubDir, '--json']);
  t.is(added.code, 0, added.err);
  const { token, matricule } = JSON.parse(added.out) as { token: string; matricule: string };
  t.is(matricule, 'CM-CE-YDE-0001');

  const hub = spawn(process.execPath, [bin, 'hub', 'start', '--dir', hubDir], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => void hub.kill('SIGKILL'));
  await waitForLine(hub, 'hub_started', 60_000);

  const dbPath = join(root, 'centre.db');
  fillCentreDatabase(dbPath, [{ table: 'births', count: 300, seed: 5, centre: matricule }]);
  new Database(dbPath).prepare('UPDATE births SET status = 1 WHERE numero > 250').run();
  const config = join(root, 'agent.json');
  const init = await cli(['agent', 'init', '--config', config, '--centre', matricule, '--sqlite', dbPath, '--table', 'births', '--broker', `mqtt://127.0.0.1:${port}`, '--data-dir', join(root, 'agent')]);
  t.is(init.code, 0, init.err);
  const enrol = await cli(['agent', 'enrol', '--config', config, '--token', token]);
  t.is(enrol.code, 0, enrol.err);
  const reused = await cli(['agent', 'enrol', '--config', config, '--token', token]);
  t.is(reused.code, 1, 'a token works once');
  t.regex(reused.err, /token/i);

  const sync = await cli(['agent', 'sync', '--once', '--config', config, '--json']);
  t.is(sync.code, 0, sync.err);
  t.like(JSON.parse(sync.out), { packedRecords: 250, receipts: 1, waiting: 0 });
  const status = JSON.parse((await cli(['agent', 'status', '--config', config, '--json'])).out) as { tables: { table: string; counts: { exported: number; new: number } }[] };
  t.like(status.tables[0], { table: 'births', counts: { exported: 250, new: 50 } });

  // The embedded database has one owner, the running hub: these go through it.
  const tables = await cli(['hub', 'tables', '--dir', hubDir, '--json']);
  t.is(tables.code, 0, tables.err);
  t.like(JSON.parse(tables.out)[0], { table: 'births', centre: matricule, records: 250, versions: 250 });
  const suspended = await cli(['hub', 'centre', 'suspend', matricule, '--dir', hubDir, '--json']);
  t.like(JSON.parse(suspended.out), { matricule, status: 0, enrolled: true });

  hub.kill('SIGINT');
  await once(hub, 'exit');
  const unknown = await cli(['hub', 'centre', 'show', 'NOPE', '--dir', hubDir]);
  t.is(unknown.code, 1);
  t.true(unknown.err.includes('NOPE'), unknown.err);
  t.is((await cli(['agent', 'sync', '--config', join(root, 'missing.json')])).code, 1);
});
