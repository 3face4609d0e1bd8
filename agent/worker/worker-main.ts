import type { WorkJob } from './work-job.js';

/**
 * The worker process the daemon forks for each pass (worker-client.ts). It
 * opens the agent as `agent sync` would, minus the link: recovery applies
 * the inbox, then it answers diagnostic requests, packs, and exits, giving
 * back to the system all the memory the pass used. Its signal handlers come
 * before anything is loaded; the pass itself is in run-pass.ts.
 */

// A terminal's Ctrl-C and systemd's stop signal the daemon and this process together: the daemon stops
// once this pass ends, so the pass finishes rather than die half-way. A second signal kills the daemon,
// and this process ends at its next step (below).
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});

// The daemon gone (killed, crashed), this process ends between two steps, each durable, as if killed with it.
let finished = false;
process.on('disconnect', () => {
  if (!finished) process.exit(1);
});

process.once('message', (job: WorkJob) => {
  void import('./run-pass.js').then(({ runPass }) => runPass(job)).finally(() => {
    finished = true;
    process.disconnect();
    process.exit(0);
  });
});
