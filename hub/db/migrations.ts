/**
 * The hub's schema, as an ordered list of migrations applied once each.
 *
 * Tables (schema `public`):
 * - `tamtam_migrations` (id, name, checksum, applied_at): what was applied.
 * - `centres`: one row per centre. `matricule` is the SDC sender id; `status`
 *   0 suspended, 1 some services, 2 all but data services, 3 all (data SDCs
 *   need 3, as in XMServer); `cert_pem`/`cert_key_id`/`cert_not_after` the
 *   enrolled certificate; `imei` for SBD; `credit` the credit account.
 * - `enrol_tokens`: one-time enrolment tokens, only their SHA-256 (hex) kept.
 * - `sdc_seen` (centre_id, sequence): every SDC answered, with the sealed
 *   receipt sent again when the SDC comes back.
 * - `quarantine`: SDCs that could not be opened or attributed, with a code.
 * - `centre_reports`: usage and diagnostic reports (JSON bodies).
 * - `link_usage` (centre, link, day): bytes, sessions, airtime and cost as the
 *   centre last reported them; `centre_backlog`: its records by status.
 * - `outbound`: replies (receipts) waiting for a centre's next call on a
 *   byte-stream link, deleted once the centre confirmed them.
 * - sequence `hub_receipt_seq`: the sequence numbers of the hub's receipts.
 *
 * Central tables live in their own schema, `central`, so that a centre table
 * called e.g. `centres` or `quarantine` can never collide with the hub's own
 * tables (see hub/central-tables.ts for their shape).
 */
import { createHash } from 'node:crypto';
import { TamtamError } from '../../protocol/errors.js';
import type { HubDatabase } from './hub-database.js';

export interface Migration {
  id: number;
  name: string;
  sql: string;
}

/** Append only: an applied migration is never edited, a change is a new migration. */
export const MIGRATIONS: readonly Migration[] = [
  {
    id: 1,
    name: 'centres, tokens, sdc_seen, quarantine, reports, central schema',
    sql: `
CREATE TABLE centres (
  id serial PRIMARY KEY,
  matricule text NOT NULL UNIQUE CHECK (matricule ~ '^[A-Za-z0-9._-]{1,64}$'),
  name text NOT NULL,
  city text,
  phone text,
  email text,
  status smallint NOT NULL DEFAULT 3 CHECK (status BETWEEN 0 AND 3),
  cert_pem text,
  cert_key_id bytea,
  cert_not_after timestamptz,
  imei text UNIQUE,
  credit numeric NOT NULL DEFAULT 0,
  mqtt_password_hash text,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_contact_at timestamptz,
  last_sequence bigint
);
-- One certificate, one centre: a shared key would let one centre sign as another.
CREATE UNIQUE INDEX centres_cert_key_id ON centres (cert_key_id) WHERE cert_key_id IS NOT NULL;

CREATE TABLE enrol_tokens (
  id serial PRIMARY KEY,
  centre_id int NOT NULL REFERENCES centres ON DELETE CASCADE,
  token_hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
CREATE INDEX enrol_tokens_centre ON enrol_tokens (centre_id);

CREATE TABLE sdc_seen (
  centre_id int NOT NULL REFERENCES centres,
  sequence bigint NOT NULL,
  kind smallint NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  via text NOT NULL,
  outcome text NOT NULL CHECK (outcome IN ('merged', 'refused', 'report')),
  table_name text,
  merged int NOT NULL DEFAULT 0,
  duplicates int NOT NULL DEFAULT 0,
  rejected int NOT NULL DEFAULT 0,
  reason text,
  receipt bytea,
  PRIMARY KEY (centre_id, sequence)
);
CREATE INDEX sdc_seen_received ON sdc_seen (received_at);

CREATE TABLE quarantine (
  id bigserial PRIMARY KEY,
  received_at timestamptz NOT NULL DEFAULT now(),
  via text NOT NULL,
  sender text,
  kind smallint,
  sequence numeric(20),
  code text NOT NULL,
  reason text NOT NULL,
  size int NOT NULL,
  sdc bytea NOT NULL
);
CREATE INDEX quarantine_received ON quarantine (received_at);

CREATE TABLE centre_reports (
  id bigserial PRIMARY KEY,
  centre_id int NOT NULL REFERENCES centres,
  sequence bigint NOT NULL,
  kind smallint NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  body jsonb NOT NULL
);
CREATE INDEX centre_reports_centre ON centre_reports (centre_id, received_at);

CREATE SEQUENCE hub_receipt_seq;
CREATE SCHEMA central;
`,
  },
  {
    id: 2,
    name: 'link usage and backlog as centres report them; replies waiting for a centre',
    sql: `
CREATE TABLE link_usage (
  centre_id int NOT NULL REFERENCES centres ON DELETE CASCADE,
  link text NOT NULL,
  day date NOT NULL,
  bytes_up bigint NOT NULL,
  bytes_down bigint NOT NULL,
  messages_up bigint NOT NULL,
  messages_down bigint NOT NULL,
  sessions int NOT NULL,
  airtime_ms bigint NOT NULL,
  cost_usd numeric(14, 6) NOT NULL,
  profile text,
  reported_at timestamptz NOT NULL,
  PRIMARY KEY (centre_id, link, day)
);
CREATE INDEX link_usage_day ON link_usage (day);

CREATE TABLE centre_backlog (
  centre_id int NOT NULL REFERENCES centres ON DELETE CASCADE,
  table_name text NOT NULL,
  status smallint NOT NULL,
  records bigint NOT NULL,
  reported_at timestamptz NOT NULL,
  PRIMARY KEY (centre_id, table_name, status)
);

CREATE TABLE outbound (
  id bigserial PRIMARY KEY,
  centre_id int NOT NULL REFERENCES centres ON DELETE CASCADE,
  payload bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbound_centre ON outbound (centre_id, id);
`,
  },
];

/** Any fixed number: every hub process takes the same lock before migrating. */
const MIGRATION_LOCK = 0x74616d74;

const checksum = (m: Migration): string => createHash('sha256').update(m.sql).digest('hex');

/**
 * Applies the migrations the database lacks, each in its own transaction, under
 * a session advisory lock so that hub processes starting together migrate one
 * after the other (the later ones find nothing left to do).
 */
export async function migrate(db: HubDatabase, migrations: readonly Migration[] = MIGRATIONS): Promise<{ applied: number[] }> {
  return db.withClient(async (client) => {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS tamtam_migrations (
        id int PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
      const done = new Map((await client.query<{ id: number; checksum: string }>('SELECT id, checksum FROM tamtam_migrations')).rows.map((r) => [r.id, r.checksum]));
      const known = new Set(migrations.map((m) => m.id));
      const newer = [...done.keys()].filter((id) => !known.has(id));
      if (newer.length) {
        throw new TamtamError('E_CONFIG', `the hub database has migration ${Math.max(...newer)}, which this Tamtam does not know: it was upgraded by a newer hub; upgrade this one`);
      }
      const applied: number[] = [];
      for (const m of [...migrations].sort((a, b) => a.id - b.id)) {
        const sum = checksum(m);
        if (done.has(m.id)) {
          if (done.get(m.id) !== sum) throw new TamtamError('E_CONFIG', `migration ${m.id} (${m.name}) differs from the one applied to this database; migrations must never be edited once released`);
          continue;
        }
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query('INSERT INTO tamtam_migrations (id, name, checksum) VALUES ($1, $2, $3)', [m.id, m.name, sum]);
          await client.query('COMMIT');
        } catch (e) {
          await client.query('ROLLBACK');
          throw new TamtamError('E_CONFIG', `migration ${m.id} (${m.name}) failed: ${(e as Error).message}; the database was left as before it`, { cause: e });
        }
        applied.push(m.id);
      }
      return { applied };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    }
  });
}
