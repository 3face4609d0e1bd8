import { TamtamError } from '../../protocol/errors.js';
import { ALERT_KINDS } from './centre-sql.js';
import type { AlertKind, CentreListQuery, CentreSort } from './dashboard-types.js';

export const CENTRE_SORTS: readonly CentreSort[] = ['matricule', 'name', 'city', 'status', 'lastContact', 'backlog', 'actsMonth', 'costMonth', 'link'];
export const MAX_PAGE_SIZE = 500;
const MAX_Q = 200;
const MAX_PAGE = 1_000_000;
const LINK = /^[A-Za-z0-9._-]{1,64}$/;
const KNOWN = ['q', 'status', 'alert', 'link', 'sort', 'order', 'page', 'pageSize'];

const bad = (message: string) => new TamtamError('E_BAD_INPUT', message);

function wholeNumber(name: string, v: string, min: number, max: number): number {
  const n = /^\d{1,9}$/.test(v) ? Number(v) : NaN;
  if (!(n >= min && n <= max)) throw bad(`${name} must be a whole number from ${min} to ${max}, not '${v.slice(0, 40)}'`);
  return n;
}

function oneOf<T extends string>(name: string, v: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(v)) throw bad(`${name} must be one of ${allowed.join(', ')}, not '${v.slice(0, 40)}'`);
  return v as T;
}

/**
 * The centre list's query string, checked: a bad value is refused with a
 * message naming the parameter and what it takes, never passed to SQL. An
 * empty parameter (a form's blank field) counts as absent; other parameters
 * are left to the caller.
 */
export function parseCentreListQuery(params: URLSearchParams): CentreListQuery {
  const value = (name: string): string | undefined => {
    const all = params.getAll(name);
    if (all.length > 1) throw bad(`${name} is given ${all.length} times; give it once`);
    return all[0] === undefined || all[0].trim() === '' ? undefined : all[0].trim();
  };
  for (const name of KNOWN) value(name);
  const q = value('q');
  if (q !== undefined && q.length > MAX_Q) throw bad(`q (text to find in matricule, name or city) is at most ${MAX_Q} characters`);
  const status = value('status');
  const alert = value('alert');
  const link = value('link');
  if (link !== undefined && !LINK.test(link)) throw bad(`link must be a link name such as mqtt, stream, sbd or t2d, not '${link.slice(0, 40)}'`);
  const page = value('page');
  const pageSize = value('pageSize');
  return {
    ...(q !== undefined ? { q } : {}),
    ...(status !== undefined ? { status: Number(oneOf('status', status, ['0', '1', '2', '3'])) } : {}),
    ...(alert !== undefined ? { alert: oneOf<AlertKind>('alert', alert, ALERT_KINDS) } : {}),
    ...(link !== undefined ? { link } : {}),
    sort: oneOf('sort', value('sort') ?? 'matricule', CENTRE_SORTS),
    order: oneOf('order', value('order') ?? 'asc', ['asc', 'desc'] as const),
    page: page === undefined ? 1 : wholeNumber('page', page, 1, MAX_PAGE),
    pageSize: pageSize === undefined ? 50 : wholeNumber('pageSize', pageSize, 1, MAX_PAGE_SIZE),
  };
}
