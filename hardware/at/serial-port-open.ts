import { readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { SerialPort } from 'serialport';
import { TamtamError } from '../../protocol/errors.js';

export interface SerialPortOpenOptions {
  path: string;
  baudRate: number;
  /** RTS/CTS hardware flow control: what satellite terminals want at speed, if the cable has the wires. */
  rtscts?: boolean;
}

/** Another process holding a port, as /proc shows it. */
export interface PortHolder {
  pid: number;
  command: string;
}

/**
 * Opens a serial port with an exclusive lock, so two agents (or an agent and
 * minicom) never talk to one modem at once, and turns the binding's errors
 * into messages a technician can act on.
 */
export async function openSerialPort(options: SerialPortOpenOptions): Promise<SerialPort> {
  const port = new SerialPort({ path: options.path, baudRate: options.baudRate, rtscts: options.rtscts ?? false, lock: true, autoOpen: false });
  try {
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  } catch (e) {
    throw await explainOpenError(e as Error, options.path);
  }
  return port;
}

async function explainOpenError(e: Error, path: string): Promise<TamtamError> {
  const text = e.message;
  if (/no such file|ENOENT/i.test(text)) {
    const ports = await listSerialPorts();
    const found = ports.length > 0 ? `ports found on this machine: ${ports.join(', ')}` : 'no serial ports were found on this machine: is the modem or its USB adapter plugged in?';
    return new TamtamError('E_PORT_NOT_FOUND', `serial port ${path} does not exist; ${found}`, { cause: e, details: { path, ports } });
  }
  if (/cannot lock|EBUSY|resource busy|temporarily unavailable/i.test(text)) {
    const holders = findPortHolders(path);
    const who = holders.length > 0 ? `it is held by ${holders.map((h) => `${h.command} (pid ${h.pid})`).join(', ')}` : 'another program holds it (another tamtam agent, ModemManager, minicom, gpsd?)';
    return new TamtamError('E_PORT_BUSY', `serial port ${path} is in use: ${who}. Stop that program (or the other agent) and try again`, {
      cause: e, retryable: true, details: { path, holders },
    });
  }
  if (/permission denied|EACCES/i.test(text)) {
    return new TamtamError('E_IO', `no permission to open ${path}: add this user to the 'dialout' group (sudo usermod -aG dialout $USER), then log out and in again`, {
      cause: e, details: { path },
    });
  }
  return new TamtamError('E_IO', `cannot open serial port ${path}: ${text}`, { cause: e, details: { path } });
}

/**
 * The serial ports a technician could mean. SerialPort.list() needs udevadm,
 * which small or container systems lack, so /dev is read as a fallback.
 */
export async function listSerialPorts(): Promise<string[]> {
  try {
    const ports = await SerialPort.list();
    if (ports.length > 0) return ports.map((p) => (p.manufacturer ? `${p.path} (${p.manufacturer})` : p.path));
  } catch {
    // falls through to /dev
  }
  try {
    return readdirSync('/dev')
      .filter((name) => /^tty(USB|ACM|S\d|AMA|XRUSB|mxc)/.test(name))
      .map((name) => `/dev/${name}`)
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  } catch {
    return [];
  }
}

/** Linux only: the processes with `path` open, found through /proc/<pid>/fd. Empty when it cannot tell. */
export function findPortHolders(path: string): PortHolder[] {
  let target: string;
  let pids: string[];
  try {
    target = realpathSync(path);
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return [];
  }
  const holders: PortHolder[] = [];
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    const holds = fds.some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === target;
      } catch {
        return false;
      }
    });
    if (!holds) continue;
    let command = '?';
    try {
      command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ') || command;
    } catch {
      // the process ended meanwhile
    }
    // Command lines of node programs run long; the start says which program it is.
    const short = command.length > 120 ? `${command.slice(0, 117)}...` : command;
    holders.push({ pid: Number(pid), command: Number(pid) === process.pid ? `${short} (this process)` : short });
  }
  return holders;
}

/** Closes a port, ignoring a port already closed. */
export function closeSerialPort(port: SerialPort): Promise<void> {
  if (!port.isOpen) return Promise.resolve();
  return new Promise((resolve) => port.close(() => resolve()));
}
