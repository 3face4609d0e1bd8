#!/usr/bin/env python3
"""Writes chunk-vectors.json from an implementation independent of the
TypeScript one (hashlib, zlib, struct), straight from FORMAT.md §12.
Run: python3 test/vectors/chunks/gen-vectors.py"""
import hashlib, json, math, os, struct, zlib

def crc(b): return struct.pack('>I', zlib.crc32(b) & 0xffffffff)

def frame(ftype, tid, index, payload):
    head = b'TF' + bytes([1, ftype]) + struct.pack('>IIH', tid, index, len(payload))
    return head + payload + crc(head + payload)

def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7f) | 0x80); n >>= 7
    out.append(n)
    return bytes(out)

def status_payload(st, encoding):
    flags = (1 if st['complete'] else 0) | (2 if st['subject'] == 'manifest' else 0) | (4 if encoding == 'ranges' else 0) | (8 if st['refused'] else 0)
    head = bytes([flags]) + struct.pack('>HIII', st['chunkSize'], st['count'], st['base'], st['span'])
    if encoding == 'ranges':
        body, pos = b'', st['base']
        for r in st['missing']:
            body += varint(r['start'] - pos) + varint(r['count']); pos = r['start'] + r['count']
    else:
        bits = [1] * st['span']
        for r in st['missing']:
            for i in range(r['start'], r['start'] + r['count']): bits[i - st['base']] = 0
        bits += [0] * (-len(bits) % 8)
        body = bytes(int(''.join(map(str, bits[i:i + 8])), 2) for i in range(0, len(bits), 8))
    return head + body

sdc = b'TAMTAM-SDC\x00\x01' + bytes((i * 7 + 3) & 0xff for i in range(88))
chunk_size, hash_len = 32, 8
digest = hashlib.sha256(sdc).digest()
tid = struct.unpack('>I', digest[:4])[0]
chunks = [sdc[i:i + chunk_size] for i in range(0, len(sdc), chunk_size)]
body = (b'TM' + bytes([1, hash_len]) + struct.pack('>IQHI', tid, len(sdc), chunk_size, len(chunks)) + digest
        + b''.join(hashlib.sha256(c).digest()[:hash_len] for c in chunks))
manifest = body + crc(body)
part = chunk_size - 2
nparts = math.ceil(len(manifest) / part)
mframes = [frame(2, tid, i, struct.pack('>H', nparts) + manifest[i * part:(i + 1) * part]) for i in range(nparts)]
cframes = [frame(1, tid, i, c) for i, c in enumerate(chunks)]

def st(**kw):
    base = dict(transferId=tid, subject='chunks', complete=False, refused=False, chunkSize=chunk_size, count=len(chunks), base=0, span=0, missing=[])
    base.update(kw); return base

statuses = [
    ('lacks 1 and 3, bitmap (smaller, so auto picks it)', 'bitmap', st(base=1, span=3, missing=[dict(start=1, count=1), dict(start=3, count=1)])),
    ('lacks 1 and 3, ranges forced', 'ranges', st(base=1, span=3, missing=[dict(start=1, count=1), dict(start=3, count=1)])),
    ('1000 chunks, lacks 0-299 and 700-999, ranges (auto)', 'ranges', st(count=1000, span=1000, missing=[dict(start=0, count=300), dict(start=700, count=300)])),
    ('unknown transfer: send everything', 'bitmap', st(subject='manifest', chunkSize=0, count=0)),
    ('complete', 'bitmap', st(complete=True, chunkSize=0, count=0)),
    ('manifest part 2 of 3 missing', 'bitmap', st(subject='manifest', chunkSize=0, count=3, base=2, span=1, missing=[dict(start=2, count=1)])),
]
out = {
    'description': 'Known-answer vectors for chunk frames v1, manifests v1, status and status request payloads; see protocol/FORMAT.md §12',
    'sdc': sdc.hex(), 'chunkSize': chunk_size, 'hashLength': hash_len, 'transferId': tid, 'sha256': digest.hex(),
    'manifest': manifest.hex(), 'manifestFrames': [f.hex() for f in mframes], 'chunkFrames': [f.hex() for f in cframes],
    'statusFrames': [dict(name=n, encoding=e, status=s, frame=frame(3, tid, 0, status_payload(s, e)).hex()) for n, e, s in statuses],
    'statusRequest': dict(maxStatusPayload=252, frame=frame(4, tid, 0, struct.pack('>H', 252)).hex()),
    'crc32': [dict(ascii=a, crc='%08x' % (zlib.crc32(a.encode()) & 0xffffffff)) for a in ['123456789', '', 'a', 'The quick brown fox jumps over the lazy dog']],
}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'chunk-vectors.json'), 'w') as f:
    json.dump(out, f, indent=2); f.write('\n')
