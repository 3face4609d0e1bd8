import type { SetupResult } from './setup-options.js';

/** The end of the set-up on a terminal: what was written where, the link, the test, and what to run next. */
export function formatSetupSummary(r: SetupResult): string {
  const rows: [string, string][] = [
    ['config', r.configPath],
    ['data', `${r.dataDir} (state, outbox, keys)`],
    ['database', r.database],
    ['tables', `${r.tables.join(', ')} (${r.backlog.toLocaleString('en-US')} validated acts waiting to go)`],
    ['link', `${r.link}, profile ${r.profile}`],
    ...(r.modem ? [['modem', r.modem] as [string, string]] : []),
    ['enrolment', `${r.enrolment}: ${r.certificate}${r.certificateValidTo ? `, valid until ${r.certificateValidTo}` : ''}`],
  ];
  if (r.t2dRoots) rows.push(['USB sticks', `watched under ${r.t2dRoots.join(', ')}`]);
  rows.push(['test', r.test
    ? `SDC ${r.test.sequence} (${r.test.sdcBytes.toLocaleString('en-US')} bytes) receipted; link up in ${(r.test.connectMs / 1000).toFixed(1)} s, round trip ${(r.test.roundTripMs / 1000).toFixed(1)} s`
    : 'not run (--no-test): the first command below tries the link']);
  const [first, ...rest] = r.next;
  const service = rest.pop();
  return [
    `Set-up done for centre ${r.centre}.`,
    ...rows.map(([k, v]) => `  ${k.padEnd(10)} ${v}`),
    '',
    `Next: ${first}`,
    ...rest.map((c) => `  then ${c}`),
    `  or, to start it with the machine, this line in a systemd unit (/etc/systemd/system/tamtam-agent.service, with Restart=always):`,
    `  ${service}`,
  ].join('\n');
}
