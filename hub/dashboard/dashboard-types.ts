/**
 * What the hub's HTTP API serves to staff, shared by the SQL side
 * (dashboard-store.ts, staff-store.ts) and the HTTP side (hub/http/).
 * Every figure is aggregated in SQL; a list is a page, never every centre.
 */

/** Why a centre needs a look. */
export type AlertKind = 'silent' | 'overBudget' | 'quarantine';

export interface AlertSettings {
  /** A centre with no SDC for this many days is silent (default 3). */
  silentDays: number;
  /** Quarantined SDCs received in this many days raise an alert (default 7). */
  quarantineDays: number;
}

export type CentreSort = 'matricule' | 'name' | 'city' | 'status' | 'lastContact' | 'backlog' | 'actsMonth' | 'costMonth' | 'link';

export interface CentreListQuery {
  /** Matches matricule, name or city (case-insensitive substring). */
  q?: string;
  status?: number;
  alert?: AlertKind;
  /** The link the centre last used: 'mqtt', 'stream', 'sbd', 't2d'. */
  link?: string;
  sort: CentreSort;
  order: 'asc' | 'desc';
  /** From 1. */
  page: number;
  /** 1..500. */
  pageSize: number;
}

export interface CentreRow {
  matricule: string;
  name: string;
  city: string | null;
  status: number;
  lastContact: string | null;
  /** How its last SDC came: 'mqtt', 'stream' (modem or TCP call), 'sbd', 't2d'; null before any. */
  link: string | null;
  /** The link profile its last usage report named (e.g. 'iridium-csd'). */
  profile: string | null;
  /** Records at status 2 and 3 in its tables, as last reported. */
  backlog: number;
  backlogReportedAt: string | null;
  /** Acts merged this calendar month (UTC). */
  actsMonth: number;
  /** Link cost this calendar month (UTC), as reported. */
  costMonthUsd: number;
  budgetUsd: number | null;
  alerts: AlertKind[];
}

export interface CentrePage {
  total: number;
  page: number;
  pageSize: number;
  rows: CentreRow[];
}

export interface CentreDetail {
  centre: CentreRow & { phone: string | null; email: string | null; enrolled: boolean; certificateExpires: string | null; credit: string; lastSequence: string | null; createdAt: string };
  backlog: { table: string; status: number; records: number; reportedAt: string }[];
  /** Last 90 days, oldest first, days with SDCs only. */
  actsByDay: { day: string; sdcs: number; merged: number; duplicates: number; rejected: number; bytes: number }[];
  /** Last 90 days, oldest first. */
  usageByDay: { day: string; link: string; bytesUp: number; bytesDown: number; sessions: number; airtimeMs: number; costUsd: number }[];
  /** Last 12 months, oldest first. */
  usageByMonth: { month: string; link: string; bytes: number; costUsd: number }[];
  /** Most recent first, at most 20. */
  quarantine: { id: string; receivedAt: string; via: string; code: string; reason: string; size: number }[];
  /** Most recent first, at most 10. */
  diagnostics: DiagnosticRequestView[];
}

export interface DiagnosticRequestView {
  id: string;
  requestedAt: string;
  requestedBy: string;
  /** How it was sent: 'mqtt' (published at once) or 'outbound' (waits for the centre's next call or stick). */
  deliveredVia: string;
  answeredAt: string | null;
  /** The centre's diagnostic report body, once answered. */
  report: Record<string, unknown> | null;
}

export interface HubOverview {
  centres: { total: number; byStatus: Record<string, number> };
  alerts: Record<AlertKind, number> & { unattributedQuarantine: number };
  /** Last 30 days, oldest first, every centre in scope. */
  actsByDay: { day: string; merged: number; sdcs: number }[];
  /** Last 12 months, oldest first. */
  costByMonth: { month: string; link: string; bytes: number; costUsd: number }[];
  backlog: number;
}

/** Gauges `/metrics` reads from SQL (no per-centre labels: 100,000 centres must not make 100,000 series). */
export interface MetricsSnapshot {
  centresByStatus: Record<string, number>;
  alerts: Record<AlertKind, number>;
  backlogByStatus: Record<string, number>;
  quarantineTotal: number;
  monthByLink: { link: string; bytes: number; costUsd: number }[];
}

export type StaffRole = 'admin' | 'viewer';

export interface StaffUser {
  username: string;
  role: StaffRole;
  /** The cities whose centres this user sees; null: every centre. */
  cities: string[] | null;
}

/** What a request may see: an admin or a user with cities null sees all. */
export type Scope = { cities: string[] | null };
export const scopeOf = (u: StaffUser): Scope => ({ cities: u.cities });
