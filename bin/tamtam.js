#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';

const args = process.argv.slice(2);
if (args[0] === 'agent' && args[1] === 'run') {
  // The daemon lives for months on a centre's small PC, mostly idle. Packing
  // grows V8's young generation to 32 MB (128 MB on Node 24), and it stays
  // that size until V8 happens to shrink it; kept at its initial size it costs
  // packing a few more scavenges and no measurable time (scripts/bench-agent.ts).
  // Set before anything is imported; the other commands are short-lived and
  // keep V8's defaults.
  setFlagsFromString('--semi-space-growth-factor=1');
}
const { runCli } = await import('../dist/cli/main.js');
process.exitCode = await runCli(args);
