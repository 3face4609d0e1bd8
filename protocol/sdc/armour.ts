import { TamtamError } from '../errors.js';
import { pemDecodeAll, pemEncode } from '../pem.js';
import { SDC_MAGIC, kindName } from './sdc-header.js';
import { peekSdc } from './sdc.js';

export const SDC_ARMOUR_LABEL = 'TAMTAM SDC';

/**
 * Text form for e-mail and people. The Kind/Sender/Sequence lines are a
 * courtesy for readers; the decoder trusts only the binary inside.
 */
export function armourSdc(sdc: Uint8Array): string {
  const { header } = peekSdc(sdc);
  return pemEncode(sdc, SDC_ARMOUR_LABEL, {
    Kind: kindName(header.kind) ?? String(header.kind),
    Sender: header.sender,
    Sequence: header.sequence.toString(),
  });
}

/** Accepts an SDC as binary or as armoured text (within a mail or note); returns the binary. */
export function unarmourSdc(input: Uint8Array): Uint8Array {
  if (input.length >= 3 && input[0] === SDC_MAGIC[0] && input[1] === SDC_MAGIC[1] && input[2] === SDC_MAGIC[2]) return input;
  if (!Buffer.from(input.buffer, input.byteOffset, input.byteLength).includes(`-----BEGIN ${SDC_ARMOUR_LABEL}-----`)) return input;
  const blocks = pemDecodeAll(Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('latin1'), SDC_ARMOUR_LABEL);
  if (blocks.length !== 1) throw new TamtamError('E_BAD_ARMOUR', `expected one '${SDC_ARMOUR_LABEL}' block, found ${blocks.length}`);
  return blocks[0].der;
}
