// The hub's JSON API. A 401 anywhere (session ended, hub restarted with
// sessions cleared) sends the user back to the log-in page.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let onUnauthorized = () => {};
export const setUnauthorizedHandler = (fn) => (onUnauthorized = fn);

export async function api(path, { method = 'GET', body } = {}) {
  let res;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? { Accept: 'application/json' } : { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'E_LINK_DOWN', 'The hub cannot be reached. Check the network and try again.');
  }
  const data = await res.json().catch(() => ({}));
  if (res.ok) return data;
  const error = data.error ?? { code: 'E_INTERNAL', message: `The hub answered ${res.status}.` };
  if (res.status === 401 && path !== '/api/login') onUnauthorized();
  throw new ApiError(res.status, error.code, error.message);
}

export const queryString = (params) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  return q.toString();
};
