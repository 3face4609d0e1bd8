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
 * - `centre_stats` (one row per centre heard from), `centre_daily` (centre,
 *   UTC day) and `centre_monthly` (centre, month, link): what the dashboard
 *   lists, kept by ingest in the transaction of each SDC so that a page of
 *   100,000 centres never aggregates history; `hub_daily`: hub-wide totals of
 *   past days, filled by the dashboard;
 *   `centres.monthly_budget_usd` the link budget alerts compare with.
 * - `staff_users`, `staff_sessions`: who may use the HTTP API (scrypt password
 *   hashes; sessions by the SHA-256 of their token, never the token).
 * - `diagnostic_requests`: diagnostic reports the hub asked centres for.
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
  {
    id: 3,
    name: 'dashboard: centre budgets, per-centre stats kept by ingest, staff accounts and sessions, diagnostic requests',
    sql: `
ALTER TABLE centres ADD COLUMN monthly_budget_usd numeric(14,2) CHECK (monthly_budget_usd >= 0);
CREATE INDEX centres_last_contact ON centres (last_contact_at);
CREATE INDEX centres_city ON centres (city);

CREATE TABLE centre_stats (
  centre_id int PRIMARY KEY REFERENCES centres ON DELETE CASCADE,
  last_via text,
  profile text,
  backlog bigint NOT NULL DEFAULT 0,
  backlog_reported_at timestamptz,
  month date,
  acts_month bigint NOT NULL DEFAULT 0,
  cost_month_usd numeric(14,6) NOT NULL DEFAULT 0
);

CREATE TABLE centre_daily (
  centre_id int NOT NULL REFERENCES centres ON DELETE CASCADE,
  day date NOT NULL,
  sdcs int NOT NULL DEFAULT 0,
  merged bigint NOT NULL DEFAULT 0,
  duplicates bigint NOT NULL DEFAULT 0,
  rejected bigint NOT NULL DEFAULT 0,
  bytes bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (centre_id, day)
);
CREATE INDEX centre_daily_day ON centre_daily (day);

-- link_usage summed by month, per centre and link, kept by each usage report: a year of costs reads 12 rows a centre, not 365.
CREATE TABLE centre_monthly (
  centre_id int NOT NULL REFERENCES centres ON DELETE CASCADE,
  month date NOT NULL,
  link text NOT NULL,
  bytes bigint NOT NULL DEFAULT 0,
  cost_usd numeric(14,6) NOT NULL DEFAULT 0,
  PRIMARY KEY (centre_id, month, link)
);
CREATE INDEX centre_monthly_month ON centre_monthly (month);

-- Hub-wide totals of centre_daily for days that can no longer change (the day is the hub's day of receipt),
-- written by the dashboard the first time it shows them: ingest never contends on a hub-wide row.
CREATE TABLE hub_daily (
  day date PRIMARY KEY,
  sdcs bigint NOT NULL,
  merged bigint NOT NULL
);

CREATE INDEX quarantine_sender ON quarantine (sender, received_at);

CREATE TABLE staff_users (
  username text PRIMARY KEY CHECK (username ~ '^[A-Za-z0-9._@-]{1,64}$'),
  password_hash text NOT NULL,
  role text NOT NULL CHECK (role IN ('admin', 'viewer')),
  cities text[],
  failed_logins int NOT NULL DEFAULT 0,
  locked_until timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE staff_sessions (
  token_hash text PRIMARY KEY,
  username text NOT NULL REFERENCES staff_users ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX staff_sessions_user ON staff_sessions (username);

CREATE TABLE diagnostic_requests (
  id bigserial PRIMARY KEY,
  centre_id int NOT NULL REFERENCES centres ON DELETE CASCADE,
  requested_at timestamptz NOT NULL DEFAULT now(),
  requested_by text NOT NULL,
  delivered_via text NOT NULL,
  outbound_id bigint,
  answered_at timestamptz,
  report_id bigint REFERENCES centre_reports
);
CREATE INDEX diagnostic_requests_centre ON diagnostic_requests (centre_id, requested_at DESC);

-- A hub upgraded with history shows it at once. The sizes of past SDCs were never kept, so their bytes read 0.
INSERT INTO centre_daily (centre_id, day, sdcs, merged, duplicates, rejected, bytes)
SELECT centre_id, (received_at AT TIME ZONE 'UTC')::date, count(*), sum(merged), sum(duplicates), sum(rejected), 0
  FROM sdc_seen GROUP BY 1, 2;

INSERT INTO centre_monthly (centre_id, month, link, bytes, cost_usd)
SELECT centre_id, date_trunc('month', day::timestamp)::date, link, sum(bytes_up + bytes_down), sum(cost_usd)
  FROM link_usage GROUP BY 1, 2, 3;

WITH m AS (SELECT date_trunc('month', now() AT TIME ZONE 'UTC')::date AS month),
via AS (SELECT DISTINCT ON (centre_id) centre_id, via FROM sdc_seen ORDER BY centre_id, received_at DESC, sequence DESC),
prof AS (SELECT DISTINCT ON (centre_id) centre_id, profile FROM link_usage WHERE profile IS NOT NULL ORDER BY centre_id, reported_at DESC, day DESC),
back AS (SELECT centre_id, sum(records) FILTER (WHERE status IN (2, 3)) AS records, max(reported_at) AS reported_at FROM centre_backlog GROUP BY centre_id),
acts AS (SELECT centre_id, sum(merged) AS merged FROM sdc_seen, m WHERE received_at >= (m.month::timestamp AT TIME ZONE 'UTC') GROUP BY centre_id),
cost AS (SELECT centre_id, sum(cost_usd) AS usd FROM link_usage, m WHERE day >= m.month AND day < (m.month + interval '1 month')::date GROUP BY centre_id)
INSERT INTO centre_stats (centre_id, last_via, profile, backlog, backlog_reported_at, month, acts_month, cost_month_usd)
SELECT c.id, via.via, prof.profile, coalesce(back.records, 0), back.reported_at, m.month, coalesce(acts.merged, 0), coalesce(cost.usd, 0)
  FROM centres c CROSS JOIN m
  LEFT JOIN via ON via.centre_id = c.id
  LEFT JOIN prof ON prof.centre_id = c.id
  LEFT JOIN back ON back.centre_id = c.id
  LEFT JOIN acts ON acts.centre_id = c.id
  LEFT JOIN cost ON cost.centre_id = c.id
 WHERE coalesce(via.centre_id, prof.centre_id, back.centre_id) IS NOT NULL;
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
