import { TamtamError } from '../errors.js';

/**
 * Bodies of the message kinds that are not record batches (usage reports,
 * import and diagnostic requests and answers) are UTF-8 JSON objects: they are
 * small, rare and read by people, and zstd removes JSON's verbosity.
 */
export function encodeJsonBody(value: Record<string, unknown>): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
}

export function decodeJsonBody(body: Uint8Array): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch (e) {
    throw new TamtamError('E_MALFORMED', `message body is not UTF-8 JSON: ${(e as Error).message}`, { cause: e });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new TamtamError('E_MALFORMED', 'message body is not a JSON object');
  return parsed as Record<string, unknown>;
}
