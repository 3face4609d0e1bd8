import { mkdirSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-write.js';
import { crc32 } from '../../protocol/chunk/crc32.js';
import type { TransferSnapshot } from '../../protocol/chunk/reassembler.js';
import { TamtamError } from '../../protocol/errors.js';

/**
 * Partial up-transfers on disk, so a hub restart does not make a centre send
 * again what it already paid to send. One folder per centre (`c-<matricule>`),
 * one file per transfer (`<transfer id, 8 hex digits>.tpart`):
 *
 *   'T' 'P' | version 01 | 00 | transfer id u32 | manifest length u32 | have length u32
 *   | data length u32 | manifest | have bitmap | data | CRC-32 of all before
 *
 * Big-endian; the fields are Reassembler.exportTransfer()'s. Each file is
 * written atomically; on import every held chunk is checked again against the
 * manifest, so damage costs a resend, never a bad SDC.
 */

const MAGIC = [0x54, 0x50] as const;
const VERSION = 0x01;
const HEADER = 20;
const CENTRE_DIR = /^c-([A-Za-z0-9._-]{1,64})$/;
const FILE = /^([0-9a-f]{8})\.tpart$/;

export function encodeTransferFile(s: TransferSnapshot): Uint8Array {
  const body = HEADER + s.manifest.length + s.have.length + s.data.length;
  const out = new Uint8Array(body + 4);
  const view = new DataView(out.buffer);
  out[0] = MAGIC[0];
  out[1] = MAGIC[1];
  out[2] = VERSION;
  view.setUint32(4, s.transferId);
  view.setUint32(8, s.manifest.length);
  view.setUint32(12, s.have.length);
  view.setUint32(16, s.data.length);
  out.set(s.manifest, HEADER);
  out.set(s.have, HEADER + s.manifest.length);
  out.set(s.data, HEADER + s.manifest.length + s.have.length);
  view.setUint32(body, crc32(out, 0, 0, body));
  return out;
}

export function decodeTransferFile(bytes: Uint8Array): TransferSnapshot {
  if (bytes.length < HEADER + 4 || bytes[0] !== MAGIC[0] || bytes[1] !== MAGIC[1]) throw new TamtamError('E_BAD_MAGIC', "not a saved transfer: it does not start with 'TP'");
  if (bytes[2] !== VERSION) throw new TamtamError('E_BAD_VERSION', `saved transfer version ${bytes[2]} is not supported (this build reads ${VERSION})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const m = view.getUint32(8);
  const h = view.getUint32(12);
  const d = view.getUint32(16);
  const body = HEADER + m + h + d;
  if (bytes.length !== body + 4) throw new TamtamError('E_TRUNCATED', `saved transfer announces ${body + 4} bytes but has ${bytes.length}`);
  if (view.getUint32(body) !== crc32(bytes, 0, 0, body)) throw new TamtamError('E_BAD_CRC', 'saved transfer CRC-32 does not match; the file was damaged');
  return {
    transferId: view.getUint32(4),
    manifest: bytes.slice(HEADER, HEADER + m),
    have: bytes.slice(HEADER + m, HEADER + m + h),
    data: bytes.slice(HEADER + m + h, body),
  };
}

export class TransferStateDir {
  /** What is on disk per centre and transfer: a file is rewritten only when its have-bitmap changed. */
  private readonly written = new Map<string, Map<number, number>>();

  constructor(readonly dir: string) {}

  /** Every saved transfer, per centre. A file that cannot be read is skipped and reported, never fatal. */
  load(onDamaged: (e: TamtamError) => void): Map<string, TransferSnapshot[]> {
    const out = new Map<string, TransferSnapshot[]>();
    mkdirSync(this.dir, { recursive: true });
    for (const entry of readdirSync(this.dir, { withFileTypes: true })) {
      const centre = entry.isDirectory() ? CENTRE_DIR.exec(entry.name)?.[1] : undefined;
      if (!centre) continue;
      const folder = join(this.dir, entry.name);
      const list: TransferSnapshot[] = [];
      const written = new Map<number, number>();
      for (const name of readdirSync(folder)) {
        if (!FILE.test(name)) continue;
        const path = join(folder, name);
        try {
          const s = decodeTransferFile(new Uint8Array(readFileSync(path)));
          if (s.transferId.toString(16).padStart(8, '0') !== name.slice(0, 8)) throw new TamtamError('E_MALFORMED', 'its transfer id does not match its name');
          list.push(s);
          written.set(s.transferId, signature(s));
        } catch (e) {
          const why = e instanceof Error ? e.message : String(e);
          onDamaged(new TamtamError(e instanceof TamtamError && e.code !== 'E_IO' ? e.code : 'E_IO', `saved transfer ${path} was skipped: ${why}; the centre sends it again`, { cause: e }));
        }
      }
      if (list.length > 0) out.set(centre, list);
      this.written.set(centre, written);
    }
    return out;
  }

  /** Makes the centre's folder hold exactly these transfers. Throws E_IO. */
  save(centre: string, snapshots: TransferSnapshot[]): void {
    const folder = join(this.dir, `c-${centre}`);
    const written = this.written.get(centre) ?? new Map<number, number>();
    this.written.set(centre, written);
    if (snapshots.length > 0) mkdirSync(folder, { recursive: true });
    const keep = new Set<string>();
    for (const s of snapshots) {
      const name = `${s.transferId.toString(16).padStart(8, '0')}.tpart`;
      keep.add(name);
      const sig = signature(s);
      if (written.get(s.transferId) === sig) continue;
      writeFileAtomic(join(folder, name), encodeTransferFile(s));
      written.set(s.transferId, sig);
    }
    let names: string[];
    try {
      names = readdirSync(folder);
    } catch {
      return;
    }
    for (const name of names) {
      if (!FILE.test(name) || keep.has(name)) continue;
      try {
        unlinkSync(join(folder, name));
      } catch (e) {
        throw new TamtamError('E_IO', `cannot remove ${join(folder, name)}: ${(e as Error).message}`, { cause: e });
      }
      written.delete(parseInt(name.slice(0, 8), 16));
    }
  }
}

/** Changes when chunks arrive or the SDC is cut anew: enough to tell whether a file is stale. */
function signature(s: TransferSnapshot): number {
  return crc32(s.have, crc32(s.manifest));
}
