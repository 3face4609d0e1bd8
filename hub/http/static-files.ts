import { readFile, stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The dashboard page's files, read at run time from the source tree (tsc
 * copies no HTML, CSS or plain JS): from dist/hub/http/ that is three levels
 * up, then hub/http/static/.
 */
export const STATIC_ROOT = fileURLToPath(new URL('../../../hub/http/static/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

export interface StaticFile {
  body: Buffer;
  contentType: string;
}

export type StaticLookup =
  | { kind: 'file'; file: StaticFile }
  | { kind: 'refused' }
  | { kind: 'missing' };

/**
 * The file a URL path names under `root`. Refused: anything that could
 * leave the folder (`..`, encoded slashes or backslashes, NUL), dot files,
 * and types not in the list above.
 */
export async function lookupStatic(root: string, urlPath: string): Promise<StaticLookup> {
  let path: string;
  try {
    path = decodeURIComponent(urlPath);
  } catch {
    return { kind: 'refused' };
  }
  if (path === '/' || path === '') path = '/index.html';
  const segments = path.split('/').slice(1);
  if (path.includes('\0') || path.includes('\\') || segments.some((s) => s === '' || s === '.' || s === '..' || s.startsWith('.'))) return { kind: 'refused' };
  if (urlPath.toLowerCase().includes('%2f') || urlPath.toLowerCase().includes('%5c')) return { kind: 'refused' };
  const base = resolve(root);
  const full = resolve(base, ...segments);
  if (!full.startsWith(base + sep)) return { kind: 'refused' };
  const contentType = TYPES[extname(full).toLowerCase()];
  if (!contentType) return { kind: 'refused' };
  try {
    if (!(await stat(full)).isFile()) return { kind: 'missing' };
    return { kind: 'file', file: { body: await readFile(full), contentType } };
  } catch {
    return { kind: 'missing' };
  }
}
