import test from 'ava';
import { decodeFrame, FrameType } from '../protocol/chunk/index.js';
import {
  byeFrame, CONTROL_MAX_PAYLOAD, decodeBye, decodeDecline, decodeHello, decodeWelcome, declineFrame, encodeBye, encodeDecline, encodeHello, encodeWelcome, helloFrame, reasonError, SessionReason, welcomeFrame,
} from '../protocol/session/index.js';
import { TamtamError } from '../protocol/errors.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');


// ---------------------------------------------------------------- frames

test('session frames match the worked bytes of FORMAT.md §14', (t) => {
  const spaced = (f: Uint8Array) => hex(f).match(/../g)?.join(' ');
  t.is(spaced(helloFrame({ centre: 'CM-CE-YDE-0001', chunkSize: 256, maxPayload: 256 })),
    '54 46 01 05 00 00 00 00 00 00 00 00 00 14 01 01 00 01 00 0e 43 4d 2d 43 45 2d 59 44 45 2d 30 30 30 31 81 49 ca ff');
  t.is(spaced(welcomeFrame({ reason: 0, text: '', chunkSize: 256, maxPayload: 256, partials: 1 })), '54 46 01 06 00 00 00 00 00 00 00 00 00 09 01 00 01 00 01 00 00 01 00 bc 60 51 6b');
  t.is(spaced(byeFrame({ reason: 0, text: '' })), '54 46 01 07 00 00 00 00 00 00 00 00 00 02 00 00 fb 2a 53 79');
  t.is(spaced(declineFrame(0x6f4b7917, { final: false, reason: SessionReason.ApplicationFailed, text: 'db' })), '54 46 01 08 6f 4b 79 17 00 00 00 00 00 05 00 09 02 64 62 fc d4 17 bb');
});

test('Hello, Welcome, Bye and Decline payloads are byte-exact', (t) => {
  t.is(hex(encodeHello({ centre: 'CM-CE-YDE-0001', chunkSize: 1024, maxPayload: 1024 })), '01' + '0400' + '0400' + '0e' + hex(Buffer.from('CM-CE-YDE-0001')));
  t.is(hex(encodeWelcome({ reason: 0, text: '', chunkSize: 256, maxPayload: 256, partials: 3 })), '01' + '00' + '0100' + '0100' + '0003' + '00');
  t.is(hex(encodeWelcome({ reason: SessionReason.Suspended, text: 'off', chunkSize: 0, maxPayload: 0, partials: 0 })), '0102' + '0000' + '0000' + '0000' + '03' + '6f6666');
  t.is(hex(encodeBye({ reason: SessionReason.SessionLimit, text: 'hr' })), '07' + '02' + '6872');
  t.is(hex(encodeDecline({ final: true, reason: SessionReason.TooLarge, text: '' })), '01' + '0a' + '00');
  t.is(hex(encodeDecline({ final: false, reason: SessionReason.ApplicationFailed, text: 'db' })), '00' + '09' + '02' + '6462');
  // Whole frames: 'TF' 01 type, transfer id 0, index 0, length, payload, CRC-32.
  const hello = helloFrame({ centre: 'C1', chunkSize: 16, maxPayload: 128 });
  t.is(hex(hello.subarray(0, 14)), '5446' + '01' + '05' + '00000000' + '00000000' + '0008');
  t.is(hello.length, 18 + 8);
  t.deepEqual(decodeFrame(byeFrame({ reason: 0, text: '' })).type, FrameType.Bye);
  t.is(decodeFrame(declineFrame(0xdeadbeef, { final: false, reason: 9, text: '' })).transferId, 0xdeadbeef);
  t.is(decodeFrame(welcomeFrame({ reason: 0, text: '', chunkSize: 16, maxPayload: 128, partials: 0 })).type, FrameType.Welcome);
});

test('session payloads decode what they encode and refuse what they should', (t) => {
  t.deepEqual(decodeHello(encodeHello({ centre: 'a.b_c-1', chunkSize: 300, maxPayload: 4096 })), { version: 1, centre: 'a.b_c-1', chunkSize: 300, maxPayload: 4096 });
  const w = { reason: 0, text: 'bienvenue à Yaoundé', chunkSize: 512, maxPayload: 512, partials: 2 };
  t.deepEqual(decodeWelcome(encodeWelcome(w)), { version: 1, ...w });
  t.deepEqual(decodeBye(encodeBye({ reason: 6, text: 'maintenance' })), { reason: 6, text: 'maintenance' });
  t.deepEqual(decodeDecline(encodeDecline({ final: true, reason: 11, text: 'x' })), { final: true, reason: 11, text: 'x' });
  // Texts are cut at 96 bytes without splitting a character; control payloads stay within 128 bytes.
  const long = encodeBye({ reason: 0, text: 'é'.repeat(100) });
  t.is(long.length, 2 + 96);
  t.true(encodeWelcome({ ...w, text: 'x'.repeat(500) }).length <= CONTROL_MAX_PAYLOAD);
  const err = (f: () => unknown) => (t.throws(f, { instanceOf: TamtamError }) as TamtamError).code;
  t.is(err(() => decodeHello(Uint8Array.of(2, 0, 16, 0, 128, 1, 65))), 'E_BAD_VERSION');
  t.is(err(() => decodeHello(Uint8Array.of(1, 0, 16, 0, 128, 2, 65))), 'E_TRUNCATED');
  t.is(err(() => decodeHello(Uint8Array.of(1, 0, 16, 0, 128, 1, 65, 0))), 'E_MALFORMED');
  t.is(err(() => decodeHello(Uint8Array.of(1, 0, 16, 0, 128, 1, 0x2f))), 'E_MALFORMED');
  t.is(err(() => decodeHello(Uint8Array.of(1, 0, 8, 0, 128, 1, 65))), 'E_MALFORMED');
  t.is(err(() => decodeHello(Uint8Array.of(1, 0, 16, 0, 64, 1, 65))), 'E_MALFORMED');
  t.is(err(() => decodeWelcome(Uint8Array.of(2, 0, 0, 16, 0, 128, 0, 0, 0))), 'E_BAD_VERSION');
  t.is(decodeWelcome(Uint8Array.of(2, 4, 0, 0, 0, 0, 0, 0, 0)).reason, SessionReason.BadVersion);
  t.is(err(() => decodeWelcome(Uint8Array.of(1, 0, 0, 8, 0, 128, 0, 0, 0))), 'E_MALFORMED');
  t.is(err(() => decodeDecline(Uint8Array.of(2, 9, 0))), 'E_MALFORMED');
  t.is(err(() => decodeBye(Uint8Array.of(0))), 'E_TRUNCATED');
  t.is(err(() => encodeHello({ centre: 'bad/name', chunkSize: 16, maxPayload: 128 })), 'E_BAD_INPUT');
  t.is(reasonError(SessionReason.Suspended, '', 'x').code, 'E_SUSPENDED');
  t.is(reasonError(SessionReason.UnknownCentre, '', 'x').code, 'E_UNKNOWN_SIGNER');
  t.true(reasonError(SessionReason.Busy, '', 'x').retryable);
  t.false(reasonError(SessionReason.BadVersion, '', 'x').retryable);
  t.is(reasonError(0x77, '', 'x').code, 'E_LINK_DOWN');
});

// ---------------------------------------------------------------- a simulated link
