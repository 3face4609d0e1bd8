#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';

const args = process.argv.slice(2);
if (args[0] === 'agent' && args[1] === 'run') {
  // The daemon lives for months on a centre's small PC, mostly idle, and
  // leaves packing to a worker process (agent/worker/) that runs with V8's
  // defaults. What the daemon itself runs (polls, sends, the MQTT session)
  // is light: interpreted, it never pulls V8's optimising compilers into
  // memory, and its young generation stays at its initial size. Both cost
  // it no measurable time (scripts/bench-agent.ts). Set before anything is
  // imported; the other commands are short-lived and keep V8's defaults.
  setFlagsFromString('--max-opt=0');
  setFlagsFromString('--semi-space-growth-factor=1');
}
const { runCli } = await import('../dist/cli/main.js');
process.exitCode = await runCli(args);
