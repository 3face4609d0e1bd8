import type { CommandGroup } from './command.js';

export interface GroupEntry {
  name: string;
  summary: string;
  /** Loaded only when used: an agent daemon must not carry the hub's database, broker and PKI code in memory. */
  load(): Promise<CommandGroup>;
}

/** Every command group of the `tamtam` program, in the order --help lists them. */
export const groups: GroupEntry[] = [
  { name: 'sdc', summary: 'pack, open and inspect Secure Data Containers; train compression dictionaries', load: async () => (await import('./sdc-commands.js')).sdcGroup },
  { name: 'pki', summary: "the hub's certificate authority: keys, requests, certificates, trust", load: async () => (await import('./pki-commands.js')).pkiGroup },
  { name: 'hub', summary: 'run the hub: set up, start, centres, central tables, dictionaries, quarantine', load: async () => (await import('./hub-commands.js')).hubGroup },
  { name: 'agent', summary: "run a centre's agent: configure, enrol, sync, status", load: async () => (await import('./agent-commands.js')).agentGroup },
  { name: 't2d', summary: 'sync by USB stick: import a stick at the hub, exchange with one at a centre', load: async () => (await import('./t2d-commands.js')).t2dGroup },
  { name: 'modem', summary: 'check a serial satellite modem: port, baud rate, model, signal, registration', load: async () => (await import('./modem-commands.js')).modemGroup },
];
