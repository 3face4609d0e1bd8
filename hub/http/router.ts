import { TamtamError } from '../../protocol/errors.js';

/**
 * Method + path pattern routing, with `:name` segments captured as params.
 * Pure: no node:http here.
 */

export type Params = Record<string, string>;

interface Route<H> {
  method: string;
  pattern: string;
  segments: string[];
  handler: H;
}

export type RouteMatch<H> =
  | { kind: 'found'; handler: H; params: Params; pattern: string }
  /** The path exists with other methods: a 405 naming them, not a 404. */
  | { kind: 'method'; allowed: string[]; pattern: string }
  | { kind: 'none' };

const split = (path: string): string[] => path.split('/').filter((s) => s !== '');

export class Router<H> {
  private readonly routes: Route<H>[] = [];

  add(method: string, pattern: string, handler: H): this {
    if (!pattern.startsWith('/')) throw new TamtamError('E_INTERNAL', `route pattern '${pattern}' must start with '/'`);
    this.routes.push({ method: method.toUpperCase(), pattern, segments: split(pattern), handler });
    return this;
  }

  get(pattern: string, handler: H): this {
    return this.add('GET', pattern, handler);
  }

  post(pattern: string, handler: H): this {
    return this.add('POST', pattern, handler);
  }

  /** `path` is the URL's pathname, still percent-encoded; params come out decoded. */
  match(method: string, path: string): RouteMatch<H> {
    const parts = split(path);
    const allowed: string[] = [];
    let pattern = '';
    for (const route of this.routes) {
      const params = matchSegments(route.segments, parts);
      if (!params) continue;
      if (route.method === method.toUpperCase() || (method.toUpperCase() === 'HEAD' && route.method === 'GET')) {
        return { kind: 'found', handler: route.handler, params, pattern: route.pattern };
      }
      allowed.push(route.method);
      pattern ||= route.pattern;
    }
    return allowed.length > 0 ? { kind: 'method', allowed, pattern } : { kind: 'none' };
  }
}

function matchSegments(pattern: string[], parts: string[]): Params | undefined {
  if (pattern.length !== parts.length) return undefined;
  const params: Params = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p.startsWith(':')) {
      let value: string;
      try {
        value = decodeURIComponent(parts[i]);
      } catch {
        return undefined;
      }
      params[p.slice(1)] = value;
    } else if (p !== parts[i]) {
      return undefined;
    }
  }
  return params;
}
