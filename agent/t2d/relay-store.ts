import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { syncDir, writeFileAtomic } from '../../common/atomic-write.js';
import { TamtamError } from '../../protocol/errors.js';
import { unwrapRelay } from '../../protocol/sdc/relay-envelope.js';
import { peekSdc } from '../../protocol/sdc/sdc.js';
import { isStickCentre, isStickFileName, isStickTempName } from '../../protocol/t2d/stick-manifest.js';

export interface RelayItem {
  /** Whose it is: the centre whose stick folder it goes to. */
  centre: string;
  name: string;
  path: string;
}

const sha8 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex').slice(0, 8);

/**
 * The name an answer takes on the stick, as the hub names its own there:
 * `<sequence>-<first 8 hex of its SHA-256>.sdc`. A relay cannot open the
 * answer (it is sealed for the other centre) but reads its clear header;
 * the hash keeps a second copy of one answer under one name.
 */
export function relayFileName(sdc: Uint8Array): string {
  let sequence = 'x';
  try {
    sequence = peekSdc(sdc).header.sequence.toString();
  } catch {
    // not an SDC: the centre it is for quarantines it, with its reason, when it reads the stick
  }
  return `${sequence}-${sha8(sdc)}.sdc`;
}

/**
 * For the link's message handler: a receipt for another centre's SDC this
 * centre forwarded from a stick is kept for the next stick. False when the
 * envelope is this centre's own or not valid: the receipt applier takes it
 * then (or quarantines it, with its reason).
 */
export function keepRelayed(store: RelayStore, me: string, payload: Uint8Array, log: (event: string, fields?: Record<string, unknown>) => void): boolean {
  let inner: { centre: string; sdc: Uint8Array };
  try {
    inner = unwrapRelay(payload);
  } catch (e) {
    log('relay_refused', { code: (e as TamtamError).code, message: (e as Error).message });
    return false;
  }
  if (inner.centre === me) return false;
  const item = store.keep(inner.centre, inner.sdc);
  log('relay_kept', { centre: inner.centre, file: item.name, bytes: inner.sdc.length, message: 'written to the next USB stick inserted' });
  return true;
}

function ioError(e: unknown, what: string): TamtamError {
  return new TamtamError('E_IO', `cannot ${what}: ${(e as Error).message}; check the agent's data folder (disk full, permissions)`, { cause: e, retryable: true });
}

/**
 * Answers the hub sent through this centre for other centres (relay
 * envelopes), kept in dataDir/relay/<centre>/ until a stick is inserted and
 * they are written in that centre's place on it. Files appear whole or not
 * at all, and one answer received twice is kept once.
 */
export class RelayStore {
  private constructor(readonly dir: string) {}

  static open(dataDir: string): RelayStore {
    const dir = join(dataDir, 'relay');
    try {
      mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw ioError(e, `create ${dir}`);
    }
    const store = new RelayStore(dir);
    store.removeTempFiles();
    return store;
  }

  /** Once this returns the answer is on disk (fsynced), so the link may acknowledge it. */
  keep(centre: string, sdc: Uint8Array): RelayItem {
    if (!isStickCentre(centre)) throw new TamtamError('E_BAD_INPUT', `'${centre}' cannot be a centre folder`);
    const folder = join(this.dir, centre);
    try {
      mkdirSync(folder, { recursive: true });
    } catch (e) {
      throw ioError(e, `create ${folder}`);
    }
    const name = relayFileName(sdc);
    const path = join(folder, name);
    writeFileAtomic(path, sdc);
    return { centre, name, path };
  }

  /** Oldest centre folders first does not matter: each is written in its own place. */
  list(): RelayItem[] {
    const out: RelayItem[] = [];
    for (const centre of this.names(this.dir).filter(isStickCentre).sort()) {
      const folder = join(this.dir, centre);
      for (const name of this.names(folder).filter(isStickFileName).sort()) out.push({ centre, name, path: join(folder, name) });
    }
    return out;
  }

  read(item: RelayItem): Uint8Array {
    try {
      return new Uint8Array(readFileSync(item.path));
    } catch (e) {
      throw ioError(e, `read the relayed answer ${item.path}`);
    }
  }

  remove(item: RelayItem): void {
    try {
      unlinkSync(item.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(e, `remove ${item.path}`);
    }
    syncDir(join(this.dir, item.centre));
  }

  /** Temp files a crash left mid-write; open() removes them. */
  removeTempFiles(): number {
    let n = 0;
    for (const centre of this.names(this.dir)) {
      for (const name of this.names(join(this.dir, centre))) {
        if (!isStickTempName(name)) continue;
        try {
          unlinkSync(join(this.dir, centre, name));
          n++;
        } catch {
          // already gone
        }
      }
    }
    return n;
  }

  private names(dir: string): string[] {
    try {
      return readdirSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
      throw ioError(e, `list ${dir}`);
    }
  }
}
