import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { TAMTAM_BIN } from './logged-process.js';

/** The built CLI in its own process, as an operator or technician runs it: locks, output and exit code are real. */
export async function runTamtam(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [TAMTAM_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const [code] = await once(child, 'close') as [number | null];
  return { code, out, err };
}
