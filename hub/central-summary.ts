import type { Queryable } from './db/hub-database.js';
import { CENTRAL_SCHEMA, centralTableSql } from './central-tables.js';

export interface CentralCount {
  table: string;
  centre: string;
  /** Distinct records (centre, source numero). */
  records: number;
  /** Rows, every version of every record. */
  versions: number;
  lastReceived: Date | null;
}

/** What reached the central tables, per table and centre, counted in SQL. */
export async function centralSummary(db: Queryable): Promise<CentralCount[]> {
  const tables = await db.query<{ table_name: string }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name",
    [CENTRAL_SCHEMA],
  );
  const out: CentralCount[] = [];
  for (const { table_name: table } of tables.rows) {
    const r = await db.query<{ matricule: string; records: string; versions: string; last: Date | null }>(
      `SELECT c.matricule, count(DISTINCT t.source_numero) AS records, count(*) AS versions, max(t.received_at) AS last
         FROM ${centralTableSql(table)} t JOIN centres c ON c.id = t.centre_id GROUP BY c.matricule ORDER BY c.matricule`,
    );
    for (const row of r.rows) out.push({ table, centre: row.matricule, records: Number(row.records), versions: Number(row.versions), lastReceived: row.last });
  }
  return out;
}
