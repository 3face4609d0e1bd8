import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TamtamError, isTamtamError } from '../../protocol/errors.js';
import type { DashboardStore } from '../dashboard/dashboard-store.js';
import type { StaffStore } from '../dashboard/staff-store.js';
import type { HubLog } from '../hub-runtime.js';
import type { HubMetrics } from '../metrics/hub-metrics.js';
import { METRICS_CONTENT_TYPE } from '../metrics/metrics-registry.js';
import { apiRouter, type ApiContext, type DiagnosticsService } from './api-routes.js';
import { HttpError, SECURITY_HEADERS, httpStatusOf, sendError, sendText } from './http-json.js';
import { LoginThrottle, sameOrigin, sessionToken } from './session-auth.js';
import { STATIC_ROOT, lookupStatic } from './static-files.js';

export interface HubHttpOptions {
  /** Default 127.0.0.1: put a TLS reverse proxy in front to serve staff elsewhere. */
  host?: string;
  /** 0 picks a free port; `HubHttpServer.port` says which. */
  port: number;
  store: Pick<DashboardStore, 'listCentres' | 'centreDetail' | 'overview' | 'metricsSnapshot'>;
  staff: Pick<StaffStore, 'authenticate' | 'createSession' | 'sessionUser' | 'endSession'>;
  metrics: HubMetrics;
  log: HubLog;
  /** When set, /metrics needs `Authorization: Bearer <token>`. */
  metricsToken?: string;
  /** Default 12. */
  sessionHours?: number;
  secureCookies?: boolean;
  diagnostics?: DiagnosticsService;
  staticRoot?: string;
  throttle?: LoginThrottle;
}

export interface HubHttpServer {
  port: number;
  url: string;
  stop(): Promise<void>;
}

const MAX_BODY = 16 * 1024;
const digest = (s: string) => createHash('sha256').update(s).digest();

/** Compared in constant time, so the token cannot be guessed a character at a time from response times. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return Boolean(m) && timingSafeEqual(digest(m![1]), digest(token));
}

/** The hub's web side: the staff API under /api, the dashboard page, /metrics and /healthz, on node:http alone. */
export async function startHubHttpServer(o: HubHttpOptions): Promise<HubHttpServer> {
  const { log, metrics } = o;
  const api = apiRouter({
    store: o.store, staff: o.staff, diagnostics: o.diagnostics, sessionHours: o.sessionHours ?? 12,
    secureCookies: o.secureCookies ?? false, throttle: o.throttle ?? new LoginThrottle(), maxBodyBytes: MAX_BODY,
  });
  const staticRoot = o.staticRoot ?? STATIC_ROOT;

  const serveApi = async (req: IncomingMessage, res: ServerResponse, url: URL, seen: { route: string; user?: string }) => {
    const match = api.match(req.method ?? 'GET', url.pathname);
    if (match.kind === 'none') throw new TamtamError('E_NOT_FOUND', `no API route ${url.pathname}`);
    seen.route = match.pattern;
    if (match.kind === 'method') {
      res.setHeader('Allow', match.allowed.join(', '));
      throw new HttpError(405, 'E_BAD_INPUT', `${url.pathname} takes ${match.allowed.join(' or ')}`);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD' && !sameOrigin(req)) throw new TamtamError('E_FORBIDDEN', 'requests from another site are refused');
    const ctx: ApiContext = { req, res, url, params: match.params };
    if (match.handler.access !== 'none') {
      const token = sessionToken(req);
      if (!token) throw new TamtamError('E_AUTH', 'log in first');
      const user = await o.staff.sessionUser(token);
      if (!user) throw new TamtamError('E_AUTH', 'your session has ended; log in again');
      seen.user = user.username;
      if (match.handler.access === 'admin' && user.role !== 'admin') throw new TamtamError('E_FORBIDDEN', "this needs an administrator's account");
      Object.assign(ctx, { user, token });
    }
    await match.handler.handle(ctx);
  };

  const serveMetrics = async (req: IncomingMessage, res: ServerResponse) => {
    if (o.metricsToken && !bearerMatches(req.headers.authorization, o.metricsToken)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="tamtam metrics"');
      sendText(res, 401, 'a bearer token is required: Authorization: Bearer <http.metricsToken from hub.json>\n');
      return;
    }
    sendText(res, 200, await metrics.render(o.store), METRICS_CONTENT_TYPE, { 'Cache-Control': 'no-store' });
  };

  const serveStatic = async (req: IncomingMessage, res: ServerResponse) => {
    // The path as sent, not as URL parsing normalised it: a '..' in it is refused, not quietly resolved.
    const found = await lookupStatic(staticRoot, req.url!.split('?')[0]);
    if (found.kind !== 'file') {
      sendText(res, found.kind === 'refused' ? 403 : 404, found.kind === 'refused' ? 'refused\n' : 'not found\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': found.file.contentType, 'Content-Length': found.file.body.length, 'Cache-Control': 'no-cache' });
    res.end(req.method === 'HEAD' ? undefined : found.file.body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    const seen: { route: string; user?: string } = { route: 'unmatched' };
    let path = '';
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    res.once('close', () => {
      metrics.httpRequests.inc({ route: seen.route, status: String(res.statusCode) });
      // Never the query string, cookies or headers: they can carry tokens.
      log.info('http', { method: req.method, path, status: res.statusCode, ms: Math.round((performance.now() - started) * 10) / 10, ...(seen.user ? { user: seen.user } : {}), ...(res.writableFinished ? {} : { aborted: true }) });
    });
    try {
      // Concatenated, not resolved: '//x/y' is a path here, not a host.
      if (!req.url?.startsWith('/')) throw new TamtamError('E_BAD_INPUT', 'the request target must be a path');
      const url = new URL(`http://hub.invalid${req.url}`);
      path = url.pathname;
      const method = req.method ?? 'GET';
      if (path === '/api' || path.startsWith('/api/')) return await serveApi(req, res, url, seen);
      if (method !== 'GET' && method !== 'HEAD') {
        res.setHeader('Allow', 'GET, HEAD');
        throw new HttpError(405, 'E_BAD_INPUT', `${path} takes GET`);
      }
      if (path === '/healthz') {
        seen.route = '/healthz';
        return sendText(res, 200, 'ok\n', 'text/plain; charset=utf-8', { 'Cache-Control': 'no-store' });
      }
      if (path === '/metrics') {
        seen.route = '/metrics';
        return await serveMetrics(req, res);
      }
      seen.route = 'static';
      return await serveStatic(req, res);
    } catch (e) {
      const status = httpStatusOf(e);
      if (status === 500) log.error('http_error', { method: req.method, path, code: isTamtamError(e) ? e.code : 'E_INTERNAL', message: (e as Error).message });
      if (res.headersSent) return void res.destroy();
      // A body too large is left unread: the connection cannot carry another request.
      sendError(res, e, status === 413 ? { Connection: 'close' } : {});
    }
  };

  const server = createServer((req, res) => void handle(req, res));
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new TamtamError('E_CONFIG', `the dashboard cannot listen on ${host}:${o.port}: ${e.code === 'EADDRINUSE' ? 'the port is in use; set another http.port in hub.json' : e.message}`, { cause: e })));
    server.listen({ host, port: o.port }, () => resolve());
  });
  server.on('error', (e) => log.error('http_server', { message: e.message }));
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log.info('http_listening', { url });
  return {
    port,
    url,
    stop: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
