import { connect, type Socket } from 'node:net';

/**
 * The door of the embedded PostgreSQL: lets one client at a time through to
 * PGlite's socket server, in arrival order (the others wait, connected), and
 * stops COPY ... FROM STDIN before it gets there. PGlite, sent COPY FROM STDIN
 * over its socket server, spins in WebAssembly for ever and freezes the whole
 * hub process with it; refused here, the client gets a clear error instead.
 */
export interface ConnectionGate {
  accept(client: Socket): void;
  counts(): { active: number; waiting: number };
  closeAll(): void;
}

const SSL_REQUEST = 80877103;
const COPY_FROM_STDIN = /\bcopy\b[^;]*\bfrom\s+stdin\b/i;

/** A FATAL ErrorResponse, as a PostgreSQL server sends it before closing. */
function fatal(code: string, message: string): Buffer {
  const fields = Buffer.from(`SFATAL\0VFATAL\0C${code}\0M${message}\0\0`, 'utf8');
  const head = Buffer.alloc(5);
  head.write('E', 0, 'latin1');
  head.writeInt32BE(4 + fields.length, 1);
  return Buffer.concat([head, fields]);
}

/** The SQL text of a simple Query ('Q') or Parse ('P') message body. */
function sqlOf(type: string, body: Buffer): string | undefined {
  if (type === 'Q') return body.toString('utf8', 0, Math.max(0, body.length - 1));
  if (type === 'P') {
    const nameEnd = body.indexOf(0);
    const textEnd = body.indexOf(0, nameEnd + 1);
    return nameEnd < 0 || textEnd < 0 ? undefined : body.toString('utf8', nameEnd + 1, textEnd);
  }
  return undefined;
}

/** Forwards frontend messages whole, refusing COPY FROM STDIN; `refuse` ends the client. */
function frontendFilter(forward: (b: Buffer) => void, refuse: (e: Buffer) => void): (chunk: Buffer) => void {
  let buffered: Buffer = Buffer.alloc(0);
  let startup = true;
  return (chunk) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    for (;;) {
      if (startup) {
        if (buffered.length < 8) return;
        const len = buffered.readInt32BE(0);
        if (buffered.length < len) return;
        startup = buffered.readInt32BE(4) === SSL_REQUEST;
        forward(buffered.subarray(0, len));
        buffered = buffered.subarray(len);
        continue;
      }
      if (buffered.length < 5) return;
      const len = 1 + buffered.readInt32BE(1);
      if (buffered.length < len) return;
      const type = String.fromCharCode(buffered[0]);
      const sql = sqlOf(type, buffered.subarray(5, len));
      if (sql !== undefined && COPY_FROM_STDIN.test(sql)) {
        return refuse(fatal('0A000', 'COPY ... FROM STDIN is not supported by the embedded PostgreSQL (PGlite): insert with INSERT ... SELECT FROM unnest(...) or json_to_recordset(...), or give the hub a real PostgreSQL (databaseUrl)'));
      }
      forward(buffered.subarray(0, len));
      buffered = buffered.subarray(len);
    }
  };
}

export function connectionGate(innerPort: number): ConnectionGate {
  const waiting: Socket[] = [];
  let active: Socket | undefined;
  let upstream: Socket | undefined;
  let closed = false;

  const next = (): void => {
    if (active || closed) return;
    const client = waiting.shift();
    if (!client) return;
    if (client.destroyed) return next();
    active = client;
    const up = (upstream = connect(innerPort, '127.0.0.1'));
    const done = (): void => {
      client.destroy();
      up.destroy();
      if (active !== client) return;
      active = upstream = undefined;
      next();
    };
    up.once('close', done).on('error', done);
    up.pipe(client);
    client.removeAllListeners('close');
    client.once('close', done).on('error', done);
    client.on(
      'data',
      frontendFilter(
        (b) => up.write(b),
        (e) => {
          client.removeAllListeners('data');
          up.removeAllListeners('close');
          up.unpipe(client);
          up.destroy();
          client.end(e);
        },
      ),
    );
    client.resume();
  };

  return {
    accept(client) {
      if (closed) return void client.destroy();
      client.pause();
      client.on('error', () => client.destroy());
      client.once('close', () => {
        const i = waiting.indexOf(client);
        if (i >= 0) waiting.splice(i, 1);
      });
      waiting.push(client);
      next();
    },
    counts: () => ({ active: active ? 1 : 0, waiting: waiting.length }),
    closeAll() {
      closed = true;
      for (const s of [...waiting, active, upstream]) s?.destroy();
      waiting.length = 0;
    },
  };
}
