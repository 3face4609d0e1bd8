import { TamtamError } from '../errors.js';

/**
 * The manifest of one folder on a USB stick (FORMAT.md §15): which files in
 * it are complete. A file is written under a temp name, renamed, and only
 * then listed, so a stick pulled at any moment never shows a partial file as
 * whole. Pure: the fs side is common/t2d-stick.ts.
 */

export const STICK_FORMAT = 'tamtam-t2d';
export const STICK_FORMAT_VERSION = 1;
export const MANIFEST_NAME = 'MANIFEST.json';
/** Far above what thousands of receipts need; a bigger "manifest" is not ours. */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

const NAME = /^[A-Za-z0-9._-]{1,64}$/;
const SHA256 = /^[0-9a-f]{64}$/;

export interface ManifestEntry {
  size: number;
  sha256: string;
}

export type StickManifest = Map<string, ManifestEntry>;

/** A centre folder: a matricule, but never '.' or '..', which name no folder of ours. */
export function isStickCentre(name: string): boolean {
  return NAME.test(name) && name !== '.' && name !== '..';
}

/** A file name: a leading dot marks temp files, and the manifest's own name is taken. */
export function isStickFileName(name: string): boolean {
  return NAME.test(name) && !name.startsWith('.') && name !== MANIFEST_NAME;
}

/** Temp files are dot-named and end in .tmp, so no reader can take one for a listed file. */
export function isStickTempName(name: string): boolean {
  return name.startsWith('.') && name.endsWith('.tmp') && name.length > 5;
}

export function stickTempName(name: string, unique: string): string {
  return `.${name}.${unique}.tmp`;
}

/** Sorted by name, one line per file, so two writers of the same set write the same bytes. */
export function encodeStickManifest(files: StickManifest): Uint8Array {
  const names = [...files.keys()].sort();
  const lines = names.map((n) => {
    const e = files.get(n)!;
    if (!isStickFileName(n)) throw new TamtamError('E_BAD_INPUT', `'${n}' cannot be a file name on the stick`);
    if (!Number.isSafeInteger(e.size) || e.size < 0 || !SHA256.test(e.sha256)) throw new TamtamError('E_BAD_INPUT', `bad manifest entry for ${n}`);
    return `    ${JSON.stringify(n)}: { "size": ${e.size}, "sha256": "${e.sha256}" }`;
  });
  const text = `{\n  "format": "${STICK_FORMAT}",\n  "version": ${STICK_FORMAT_VERSION},\n  "files": {${lines.length ? `\n${lines.join(',\n')}\n  ` : ''}}\n}\n`;
  return new TextEncoder().encode(text);
}

function malformed(why: string): TamtamError {
  return new TamtamError('E_MALFORMED', `damaged stick manifest: ${why}; the folder's files are ignored until it is written again`);
}

/** Strict: anything off makes the whole manifest unusable, so a damaged one never lists a file it should not. */
export function decodeStickManifest(bytes: Uint8Array): StickManifest {
  if (bytes.length > MAX_MANIFEST_BYTES) throw new TamtamError('E_TOO_LARGE', `stick manifest of ${bytes.length} bytes is over ${MAX_MANIFEST_BYTES}`);
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw malformed(`not JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw malformed('not a JSON object');
  const o = raw as Record<string, unknown>;
  if (o.format !== STICK_FORMAT) throw malformed(`format is ${JSON.stringify(o.format)}, not "${STICK_FORMAT}"`);
  if (o.version !== STICK_FORMAT_VERSION) {
    throw new TamtamError('E_BAD_VERSION', `stick manifest version ${JSON.stringify(o.version)}; this build reads ${STICK_FORMAT_VERSION}: upgrade Tamtam`);
  }
  const files = o.files;
  if (typeof files !== 'object' || files === null || Array.isArray(files)) throw malformed('"files" is not an object');
  const out: StickManifest = new Map();
  for (const [name, v] of Object.entries(files as Record<string, unknown>)) {
    if (!isStickFileName(name)) throw malformed(`it lists '${name}', which is not a valid file name`);
    const e = v as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null) throw malformed(`entry ${name} is not an object`);
    const { size, sha256 } = e;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw malformed(`entry ${name} has no valid size`);
    if (typeof sha256 !== 'string' || !SHA256.test(sha256)) throw malformed(`entry ${name} has no valid sha256`);
    out.set(name, { size, sha256 });
  }
  return out;
}
