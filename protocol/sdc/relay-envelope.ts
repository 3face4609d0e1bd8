import { ByteReader, ByteWriter } from '../bytes.js';
import { TamtamError } from '../errors.js';

/** "TTR" then the version: a reply the hub hands to one centre for another. */
export const RELAY_MAGIC = [0x54, 0x54, 0x52] as const;
export const RELAY_VERSION = 1;

const MATRICULE = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * When a centre forwards another centre's SDC (found on a USB stick it
 * relays), the hub's receipt goes back to the relaying centre, which cannot
 * open it (it is sealed for the other centre): this clear wrapper says whose
 * it is, so the relay puts it on the stick in that centre's place. Layout:
 * 'T' 'T' 'R' | version 01 | matricule length u8 | matricule | the SDC.
 */
export function wrapRelay(centre: string, sdc: Uint8Array): Uint8Array {
  if (!MATRICULE.test(centre)) throw new TamtamError('E_BAD_INPUT', `'${centre}' is not a centre matricule`);
  const name = new TextEncoder().encode(centre);
  return new ByteWriter().bytes(Uint8Array.from(RELAY_MAGIC)).u8(RELAY_VERSION).u8(name.length).bytes(name).bytes(sdc).finish();
}

export function isRelayEnvelope(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === RELAY_MAGIC[0] && bytes[1] === RELAY_MAGIC[1] && bytes[2] === RELAY_MAGIC[2];
}

export function unwrapRelay(bytes: Uint8Array): { centre: string; sdc: Uint8Array } {
  if (!isRelayEnvelope(bytes)) throw new TamtamError('E_BAD_MAGIC', 'not a relay envelope (TTR)');
  const r = new ByteReader(bytes.subarray(3), 'relay envelope');
  const version = r.u8('relay version');
  if (version !== RELAY_VERSION) throw new TamtamError('E_BAD_VERSION', `relay envelope version ${version}; this build reads ${RELAY_VERSION}`);
  const length = r.u8('matricule length');
  const centre = new TextDecoder('utf-8', { fatal: false }).decode(r.bytes(length, 'matricule'));
  if (!MATRICULE.test(centre)) throw new TamtamError('E_MALFORMED', 'the relay envelope names no valid centre');
  const sdc = bytes.subarray(3 + 2 + length);
  if (sdc.length === 0) throw new TamtamError('E_TRUNCATED', 'the relay envelope carries nothing');
  return { centre, sdc };
}
