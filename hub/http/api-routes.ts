import type { IncomingMessage, ServerResponse } from 'node:http';
import { TamtamError } from '../../protocol/errors.js';
import { scopeOf, type DiagnosticRequestView, type StaffUser } from '../dashboard/dashboard-types.js';
import { parseCentreListQuery, type DashboardStore } from '../dashboard/dashboard-store.js';
import type { StaffStore } from '../dashboard/staff-store.js';
import { HttpError, readJsonBody, sendJson, stringField } from './http-json.js';
import { Router, type Params } from './router.js';
import { LoginThrottle, overHttps, sessionCookie } from './session-auth.js';

/** Asks a centre for a diagnostic report over its link (helper B's service). */
export interface DiagnosticsService {
  request(matricule: string, requestedBy: string): Promise<DiagnosticRequestView>;
}

export interface ApiContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Params;
  /** Set before the handler runs for every route but login. */
  user?: StaffUser;
  token?: string;
}

export interface ApiRoute {
  /** 'none': login only; 'admin': a session of an admin. */
  access: 'none' | 'session' | 'admin';
  handle(ctx: ApiContext): Promise<void>;
}

export interface ApiDeps {
  store: Pick<DashboardStore, 'listCentres' | 'centreDetail' | 'overview'>;
  staff: Pick<StaffStore, 'authenticate' | 'createSession' | 'endSession'>;
  diagnostics?: DiagnosticsService;
  sessionHours: number;
  /** Mark the cookie Secure even on plain http (TLS ends at a proxy that does not say so). */
  secureCookies: boolean;
  throttle: LoginThrottle;
  maxBodyBytes: number;
}

const user = (ctx: ApiContext): StaffUser => ctx.user!;
const notFound = (matricule: string) => new TamtamError('E_NOT_FOUND', `no centre '${matricule}' among the centres you may see; check the matricule in the list`);

/** The JSON API staff's dashboard page calls; every route but login needs a session (checked by the server). */
export function apiRouter(d: ApiDeps): Router<ApiRoute> {
  const router = new Router<ApiRoute>();
  const secure = (req: IncomingMessage) => d.secureCookies || overHttps(req);

  router.post('/api/login', {
    access: 'none',
    handle: async ({ req, res }) => {
      const address = req.socket.remoteAddress ?? 'unknown';
      const wait = d.throttle.waitMs(address);
      if (wait > 0) throw new HttpError(429, 'E_AUTH', `too many failed log-ins from this address; try again in ${Math.ceil(wait / 60_000)} minute(s)`);
      const body = await readJsonBody(req, d.maxBodyBytes);
      const username = stringField(body, 'username', 64);
      const password = stringField(body, 'password', 1024);
      const staff = await d.staff.authenticate(username, password);
      if (!staff) {
        d.throttle.failed(address);
        throw new TamtamError('E_AUTH', 'wrong name or password');
      }
      d.throttle.succeeded(address);
      const session = await d.staff.createSession(staff.username, d.sessionHours);
      sendJson(res, 200, { user: staff, expiresAt: session.expiresAt.toISOString() }, { 'Set-Cookie': sessionCookie(session.token, d.sessionHours * 3600, secure(req)) });
    },
  });

  router.post('/api/logout', {
    access: 'session',
    handle: async ({ req, res, token }) => {
      await readJsonBody(req, d.maxBodyBytes);
      await d.staff.endSession(token!);
      sendJson(res, 200, { ok: true }, { 'Set-Cookie': sessionCookie('', 0, secure(req)) });
    },
  });

  router.get('/api/me', { access: 'session', handle: async (ctx) => sendJson(ctx.res, 200, { user: user(ctx) }) });

  router.get('/api/overview', {
    access: 'session',
    handle: async (ctx) => sendJson(ctx.res, 200, await d.store.overview(scopeOf(user(ctx)))),
  });

  router.get('/api/centres', {
    access: 'session',
    handle: async (ctx) => sendJson(ctx.res, 200, await d.store.listCentres(scopeOf(user(ctx)), parseCentreListQuery(ctx.url.searchParams))),
  });

  router.get('/api/centres/:matricule', {
    access: 'session',
    handle: async (ctx) => {
      const detail = await d.store.centreDetail(scopeOf(user(ctx)), ctx.params.matricule);
      if (!detail) throw notFound(ctx.params.matricule);
      sendJson(ctx.res, 200, detail);
    },
  });

  router.post('/api/centres/:matricule/diagnostics', {
    access: 'admin',
    handle: async (ctx) => {
      await readJsonBody(ctx.req, d.maxBodyBytes);
      if (!d.diagnostics) throw new HttpError(503, 'E_CONFIG', 'this hub cannot ask centres for diagnostic reports (remote diagnosis is not set up)');
      const matricule = ctx.params.matricule;
      if (!(await d.store.centreDetail(scopeOf(user(ctx)), matricule))) throw notFound(matricule);
      let request;
      try {
        request = await d.diagnostics.request(matricule, user(ctx).username);
      } catch (e) {
        // A centre that never enrolled has no key to seal the request for: the staff member can act on that message.
        if (e instanceof TamtamError && e.code === 'E_CONFIG') throw new HttpError(409, e.code, e.message);
        throw e;
      }
      sendJson(ctx.res, 202, { request });
    },
  });

  return router;
}
