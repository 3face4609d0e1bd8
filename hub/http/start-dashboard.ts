import { DashboardStore } from '../dashboard/dashboard-store.js';
import { StaffStore } from '../dashboard/staff-store.js';
import type { Queryable } from '../db/hub-database.js';
import { DEFAULT_SESSION_HOURS, type HubConfig, type HubHttpConfig } from '../hub-home.js';
import type { HubLog } from '../hub-runtime.js';
import type { HubMetrics } from '../metrics/hub-metrics.js';
import type { DiagnosticsService } from './api-routes.js';
import { startHubHttpServer, type HubHttpServer } from './hub-http-server.js';

export interface StartDashboardOptions {
  db: Queryable;
  http: HubHttpConfig;
  alerts?: HubConfig['alerts'];
  metrics: HubMetrics;
  log: HubLog;
  diagnostics?: DiagnosticsService;
}

/** The hub's `http` section brought up: the SQL stores behind the staff API, the page and /metrics. */
export function startDashboard(o: StartDashboardOptions): Promise<HubHttpServer> {
  return startHubHttpServer({
    host: o.http.host,
    port: o.http.port,
    sessionHours: o.http.sessionHours ?? DEFAULT_SESSION_HOURS,
    ...(o.http.metricsToken ? { metricsToken: o.http.metricsToken } : {}),
    store: new DashboardStore(o.db, { alerts: o.alerts }),
    staff: new StaffStore(o.db),
    metrics: o.metrics,
    log: o.log,
    ...(o.diagnostics ? { diagnostics: o.diagnostics } : {}),
  });
}
