/**
 * CRC-32 as in IEEE 802.3, zlib and PNG (reflected polynomial 0xEDB88320,
 * initial value and final XOR 0xFFFFFFFF); check value for "123456789" is
 * 0xCBF43926. Chosen over a stronger hash because modems and every tool
 * (zlib.crc32, binascii.crc32) already speak it, and frames are short enough
 * that it catches all burst errors up to 32 bits.
 */

const TABLE = buildTable();

function buildTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/**
 * CRC-32 of `data[start, end)`. Pass the result of an earlier call as
 * `previous` to continue over data that arrives in pieces, like zlib's crc32.
 */
export function crc32(data: Uint8Array, previous = 0, start = 0, end = data.length): number {
  let c = (previous ^ 0xffffffff) >>> 0;
  for (let i = start; i < end; i++) c = TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
