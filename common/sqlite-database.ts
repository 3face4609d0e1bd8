import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';

/**
 * better-sqlite3, in the major that suits the running Node.
 *
 * 12 is the last to run on Node 20, but aborts on Node 24 once built against
 * 24.19's headers or later: its Statement and Database derive from
 * node::ObjectWrap, whose destructor there asserts a current Environment
 * that an idle garbage collection does not have (nodejs/node#65446). 13 uses
 * Node-API instead, ships prebuilt binaries, and needs Node 22 or later (it
 * crashes on 20). It is an optional dependency installed as
 * `better-sqlite3-13`; where it is missing, 12 serves on every Node. Both
 * have the same API.
 */
const require = createRequire(import.meta.url);

function resolveDriver(): string {
  if (Number(process.versions.node.split('.')[0]) >= 22) {
    try {
      return require.resolve('better-sqlite3-13');
    } catch (e) {
      if ((e as { code?: string }).code !== 'MODULE_NOT_FOUND') throw e;
    }
  }
  return require.resolve('better-sqlite3');
}

/** The driver's entry point: what another process (a test's stand-in for the centre application) should require. */
export const SQLITE_DRIVER_PATH = resolveDriver();

const Database = require(SQLITE_DRIVER_PATH) as typeof BetterSqlite3;

// Type-only, so that `Database.Database` names an open database as with the package itself.
// eslint-disable-next-line @typescript-eslint/no-namespace
declare namespace Database {
  type Database = BetterSqlite3.Database;
  type Statement<P extends unknown[] | {} = unknown[], R = unknown> = BetterSqlite3.Statement<P, R>;
}

export default Database;
