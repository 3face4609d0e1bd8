import test from 'ava';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database, { SQLITE_DRIVER_PATH } from '../common/sqlite-database.js';

/** The package.json above the driver's entry point. */
function driverPackage(): { name: string; version: string } {
  for (let dir = dirname(SQLITE_DRIVER_PATH); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string; version: string };
    } catch {
      // not this folder
    }
  }
  throw new Error(`no package.json above ${SQLITE_DRIVER_PATH}`);
}

test('the SQLite driver suits the running Node: better-sqlite3 12 on Node 20, 13 on Node 22 and later when installed', (t) => {
  const major = Number(process.versions.node.split('.')[0]);
  const { version } = driverPackage();
  t.log(`Node ${process.version}: better-sqlite3 ${version} (${SQLITE_DRIVER_PATH})`);
  const has13 = (() => {
    try {
      import.meta.resolve('better-sqlite3-13');
      return true;
    } catch {
      return false;
    }
  })();
  t.is(Number(version.split('.')[0]), major >= 22 && has13 ? 13 : 12);
  const db = new Database(':memory:');
  t.teardown(() => db.close());
  t.deepEqual(db.prepare('SELECT 1 + 1 AS two').get(), { two: 2 });
});
