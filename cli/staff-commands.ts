import { stderr, stdin } from 'node:process';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { readInput } from '../common/read-input.js';
import { TamtamError } from '../protocol/errors.js';
import type { StaffRole, StaffUser } from '../hub/dashboard/dashboard-types.js';
import { MIN_PASSWORD, StaffStore } from '../hub/dashboard/staff-store.js';
import { withHubDatabase } from '../hub/hub-access.js';
import { loadHubHome } from '../hub/hub-home.js';
import { optionalList, optionalString, requireOption, requirePositional, type Command, type CommandContext } from './command.js';

/** Staff accounts of the hub's dashboard and HTTP API: `tamtam hub staff ...`, listed in the hub group. */

const dirOption = { dir: { type: 'string' as const } };
const hubDir = (ctx: CommandContext) => optionalString(ctx, 'dir') ?? process.env.TAMTAM_HUB_DIR ?? 'tamtam-hub';
const withStaff = <T>(ctx: CommandContext, fn: (s: StaffStore) => Promise<T>) => withHubDatabase(loadHubHome(hubDir(ctx)), (db) => fn(new StaffStore(db)));
const passwordHelp = `--password-file F   read the password from the first line of F; without it the password is read from
                    standard input when that is not a terminal (one line), else asked twice without echo.
                    At least ${MIN_PASSWORD} characters.`;

const firstLine = (text: string): string => text.split(/\r?\n/, 1)[0] ?? '';

/** One line from a piped standard input (the rest is left unread). */
function readStdinLine(): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: stdin, crlfDelay: Infinity });
    let line: string | undefined;
    rl.once('line', (l) => { line = l; rl.close(); });
    rl.once('close', () => resolve(line ?? ''));
    stdin.once('error', reject);
  });
}

/** Asks on the terminal with echo off: the prompt is written, what is typed is not. */
function askHidden(prompt: string): Promise<string> {
  let muted = false;
  const output = new Writable({ write: (chunk, _enc, done) => { if (!muted) stderr.write(chunk); done(); } });
  const rl = createInterface({ input: stdin, output, terminal: true });
  return new Promise((resolve, reject) => {
    rl.question(prompt, (answer) => { rl.close(); stderr.write('\n'); resolve(answer); });
    muted = true;
    rl.once('SIGINT', () => { rl.close(); stderr.write('\n'); reject(new TamtamError('E_ABORTED', 'no password given')); });
  });
}

async function readPassword(ctx: CommandContext): Promise<string> {
  const file = optionalString(ctx, 'password-file');
  if (file) return firstLine(Buffer.from(readInput(file, 'password file')).toString('utf8'));
  if (!stdin.isTTY) return readStdinLine();
  const first = await askHidden('password: ');
  if ([...first].length < MIN_PASSWORD) throw new TamtamError('E_BAD_INPUT', `a staff password needs at least ${MIN_PASSWORD} characters`);
  if ((await askHidden('again: ')) !== first) throw new TamtamError('E_BAD_INPUT', 'the two passwords differ; nothing was changed');
  return first;
}

const scopeText = (u: StaffUser) => (u.cities === null ? 'every centre' : `centres of ${u.cities.join(', ')}`);

async function add(ctx: CommandContext): Promise<void> {
  const username = requirePositional(ctx, 0, 'the staff user name');
  const role = requireOption(ctx, 'role', 'admin or viewer');
  if (role !== 'admin' && role !== 'viewer') throw new TamtamError('E_USAGE', `--role takes admin or viewer, not '${role}'`);
  const cities = optionalList(ctx, 'city');
  const password = await readPassword(ctx);
  const user = await withStaff(ctx, (s) => s.add({ username, password, role: role as StaffRole, cities: cities.length ? cities : null }));
  if (ctx.json) return ctx.out(JSON.stringify(user));
  ctx.out(`staff user ${user.username} added: ${user.role}, sees ${scopeText(user)}`);
}

async function list(ctx: CommandContext): Promise<void> {
  const users = await withStaff(ctx, (s) => s.list());
  if (ctx.json) return ctx.out(JSON.stringify(users));
  if (users.length === 0) return ctx.out("no staff users yet; add one with 'tamtam hub staff add NAME --role admin'");
  for (const u of users) {
    ctx.out(`${u.username.padEnd(24)} ${u.role.padEnd(7)} ${scopeText(u)}  since ${u.createdAt.slice(0, 10)}${u.lockedUntil ? `  LOCKED until ${u.lockedUntil}` : ''}`);
  }
}

async function remove(ctx: CommandContext): Promise<void> {
  const username = requirePositional(ctx, 0, 'the staff user name');
  if (!(await withStaff(ctx, (s) => s.remove(username)))) throw new TamtamError('E_BAD_INPUT', `no staff user '${username}'; list them with 'tamtam hub staff list'`);
  ctx.out(ctx.json ? JSON.stringify({ removed: username }) : `staff user ${username} removed, and logged out`);
}

async function password(ctx: CommandContext): Promise<void> {
  const username = requirePositional(ctx, 0, 'the staff user name');
  const pw = await readPassword(ctx);
  await withStaff(ctx, (s) => s.setPassword(username, pw));
  ctx.out(ctx.json ? JSON.stringify({ username }) : `password of ${username} changed; its sessions were ended and the account unlocked`);
}

export const staffCommands: Command[] = [
  {
    name: 'staff add', summary: 'add a staff account for the dashboard and HTTP API', usage: 'NAME --role admin|viewer [--city C ...] [--password-file F]',
    help: `--role R            admin or viewer
--city C            the user sees only centres of city C; repeat for more; none: every centre
${passwordHelp}`,
    options: { ...dirOption, role: { type: 'string' }, city: { type: 'string', multiple: true }, 'password-file': { type: 'string' } },
    run: add,
  },
  { name: 'staff list', summary: 'list staff accounts', usage: '[--json]', options: dirOption, run: list },
  { name: 'staff remove', summary: 'remove a staff account; its sessions end at once', usage: 'NAME', options: dirOption, run: remove },
  {
    name: 'staff password', summary: "set a staff account's password (and unlock it)", usage: 'NAME [--password-file F]', help: passwordHelp,
    options: { ...dirOption, 'password-file': { type: 'string' } }, run: password,
  },
];
