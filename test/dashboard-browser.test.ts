import test from 'ava';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createPrivateKey } from 'node:crypto';
import { connectAsync } from 'mqtt';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createCsr, generateKeyPair } from '../agent/enrolment/key-pair.js';
import { StaffStore } from '../hub/dashboard/staff-store.js';
import { hubPaths, loadHubHome, type HubConfig } from '../hub/hub-home.js';
import { issueCertificate } from '../hub/pki/certificate-authority.js';
import { SdcKind, encodeJsonBody, loadCompressor, parseCertificate, sealSdc, upTopic } from '../protocol/index.js';
import { E2eRig, pollUntil, startServices, type RigCentre, type Services } from './helpers/e2e-rig.js';

/*
 * The dashboard in a real headless Chromium, against a hub whose data came
 * the real way: centres' agents synced their acts and usage reports through
 * Mosquitto into PostgreSQL. Screenshots go to test-output/. The tests share
 * the broker (hubs in one shared-subscription group), so they run one at a time.
 */
const OUT = fileURLToPath(new URL('../../test-output/', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const PASSWORD = 'a long staff password';

let services: Services;
let browser: Browser;
test.before(async () => {
  services = await startServices();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
test.after.always(async () => {
  await browser?.close();
  await services?.stop();
});

interface Seeded {
  centre: RigCentre;
  name: string;
  city: string;
  acts: number;
  pending: number;
}

/**
 * A centre that syncs its validated acts, then sends a usage report (bytes,
 * cost, backlog) like any other SDC. `pending` acts validated in between are
 * the backlog the report gives: it is packed before them.
 */
async function syncWithReport(rig: E2eRig, matricule: string, name: string, city: string, count: number, profile: string, pending: number): Promise<Seeded> {
  const centre = await rig.addCentre({ matricule, count, tables: ['births', 'deaths'] });
  const config = JSON.parse(readFileSync(centre.configPath, 'utf8'));
  writeFileSync(centre.configPath, JSON.stringify({ ...config, link: { ...config.link, profile } }, null, 2));
  await rig.db.query('UPDATE centres SET name = $2, city = $3 WHERE matricule = $1', [matricule, name, city]);
  await centre.enrol();
  const agent = await centre.open();
  try {
    if ((await agent.syncOnce({ timeoutMs: 60_000 })).waiting !== 0) throw new Error(`${matricule}: receipts missing`);
    centre.validate('births', pending);
    agent.state.setMeta('usage_report_at', '0');
    if ((await agent.syncOnce({ timeoutMs: 60_000 })).waiting !== 0) throw new Error(`${matricule}: no receipt for the usage report`);
  } finally {
    await agent.close();
  }
  return { centre, name, city, pending, acts: centre.count('births', 4) + centre.count('deaths', 4) };
}

const fmt = (n: number) => n.toLocaleString('en-US');

/**
 * An SDC in `matricule`'s name signed with a key that is not the one it
 * enrolled, published on its topic as an impostor would: the hub must
 * quarantine it against that centre.
 */
async function publishImpostor(rig: E2eRig, matricule: string): Promise<void> {
  const home = loadHubHome(rig.hubDir);
  const keys = generateKeyPair();
  const certPem = issueCertificate(home.ca, createCsr(keys.privateKeyPem, { commonName: matricule }), { role: 'centre', commonName: matricule });
  const sdc = sealSdc(await loadCompressor(), encodeJsonBody({ report: 'usage', note: '<b>not</b> from the centre' }), {
    kind: SdcKind.usageReport, sender: matricule, sequence: 999n, count: 0,
    signerKey: createPrivateKey(keys.privateKeyPem), signerCert: parseCertificate(certPem), recipientCert: home.hubCert,
  });
  const client = await connectAsync(rig.brokerUrl, { clientId: `impostor-${process.pid}`, clean: true, reconnectPeriod: 0 });
  try {
    await client.publishAsync(upTopic(matricule), Buffer.from(sdc), { qos: 1 });
  } finally {
    await client.endAsync();
  }
  await pollUntil(async () => (await rig.db.query('SELECT count(*)::int AS n FROM quarantine WHERE sender = $1', [matricule])).rows[0].n, (n) => n > 0, `a quarantined SDC of ${matricule}`);
}

async function shot(page: Page, name: string): Promise<string> {
  mkdirSync(OUT, { recursive: true });
  const path = `${OUT}${name}.png`;
  await page.screenshot({ path, fullPage: true });
  return path;
}

const rowMatricules = (page: Page) => page.$$eval('table.centres tbody tr[data-matricule]', (rows) => rows.map((r) => r.getAttribute('data-matricule')!));

async function waitForRows(page: Page, expected: string[]): Promise<void> {
  // Runs in the page (whose CSP forbids evaluating strings); the test's TypeScript has no DOM types, hence `any`.
  await page.waitForFunction((want: string) => {
    const doc = (globalThis as any).document;
    const rows = [...doc.querySelectorAll('table.centres tbody tr[data-matricule]')].map((r: any) => r.dataset.matricule);
    return JSON.stringify(rows) === want && !doc.querySelector('.list-panel.loading');
  }, JSON.stringify(expected), { timeout: 15_000 }).catch(async (e) => {
    throw new Error(`rows ${JSON.stringify(await rowMatricules(page))}, wanted ${JSON.stringify(expected)}: ${(e as Error).message}`);
  });
}

test.serial('staff log in, read, sort and filter the centres, open one with its charts, on a wide and a narrow screen', async (t) => {
  const rig = await E2eRig.create(services, 'dashboard', ['births', 'deaths']);
  t.teardown(() => rig.close());
  const configPath = hubPaths(rig.hubDir).config;
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as HubConfig;
  writeFileSync(configPath, JSON.stringify({ ...config, http: { port: 0 } }, null, 2));
  const hub = await rig.startHub();
  t.truthy(hub.httpPort);
  const base = `http://127.0.0.1:${hub.httpPort}`;

  const seeded = [
    await syncWithReport(rig, 'CM-DLA-0101', 'Douala Akwa', 'Douala', 90, 'iridium-certus-100', 4),
    await syncWithReport(rig, 'CM-YDE-0102', 'Yaoundé Centre', 'Yaoundé', 260, 'internet', 0),
    await syncWithReport(rig, 'SN-DKR-0103', 'Dakar Plateau', 'Dakar', 150, 'thuraya-ip', 12),
  ];
  // A budget the satellite centre's first day already exceeds, and an impostor in its name: its row must say both.
  await rig.db.query("UPDATE centres SET monthly_budget_usd = 0.01 WHERE matricule = 'CM-DLA-0101'");
  await publishImpostor(rig, 'CM-DLA-0101');
  await new StaffStore(rig.db).add({ username: 'amina', password: PASSWORD, role: 'admin', cities: null });

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  // The browser logs every 401 as a failed load; the page's answer to them is tested, not the noise.
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 401/.test(m.text())) problems.push(`console: ${m.text()}`); });
  page.on('response', (r) => { if (r.status() >= 500) problems.push(`${r.status()} ${r.url()}`); });

  await page.goto(`${base}/`);
  await page.waitForSelector('form.login-card');
  t.regex(page.url(), /#\/login$/, 'no session: the log-in page');
  await page.fill('#username', 'amina');
  await page.fill('#password', 'not it');
  await page.click('form.login-card button[type=submit]');
  await page.waitForSelector('.form-error:not([hidden])');
  t.is(await page.textContent('.form-error'), 'Wrong name or password.');
  await page.fill('#password', PASSWORD);
  await page.click('form.login-card button[type=submit]');

  const byMatricule = [...seeded].sort((a, b) => a.centre.matricule.localeCompare(b.centre.matricule)).map((s) => s.centre.matricule);
  await waitForRows(page, byMatricule);
  await page.waitForSelector('.overview .card-value');
  t.is(await page.textContent('#user .who'), 'aminaAdministrator');
  for (const s of seeded) {
    const cells = await page.$$eval(`tr[data-matricule="${s.centre.matricule}"] td`, (tds) => tds.map((td) => td.textContent ?? ''));
    t.is(cells[1], s.name);
    t.is(cells[2], s.city);
    t.is(cells[4], 'just now', `${s.centre.matricule} was heard from moments ago`);
    t.true(cells[5].startsWith('MQTT'), 'the link its SDCs came by');
    t.is(cells[6], fmt(s.pending), 'the backlog as its usage report gave it');
    t.is(cells[7], fmt(s.acts), `${s.centre.matricule}: acts merged this month`);
  }
  const satellite = await page.$$eval('tr[data-matricule="CM-DLA-0101"] td', (tds) => tds.map((td) => td.textContent ?? ''));
  t.regex(satellite[5], /iridium-certus-100/, 'the profile its usage report named');
  t.regex(satellite[8], /^US\$ \d+\.\d{2}of US\$ 0\.01$/, 'cost this month against its budget');
  t.is(satellite[9], 'Over budgetQuarantine');
  const totalCard = await page.$$eval('.overview .card', (cards) => cards.map((c) => c.textContent ?? ''));
  t.true(totalCard[0].startsWith('Centres3'), totalCard[0]);
  const overviewBars = await page.$$eval('.overview .chart-svg .bar rect[fill]', (r) => r.length);
  t.true(overviewBars >= 1, 'the 30-day chart has today\'s bar');
  await shot(page, 'dashboard-overview');

  // Sorting by acts, most first, then least first: the order follows the figures.
  const byActs = [...seeded].sort((a, b) => b.acts - a.acts).map((s) => s.centre.matricule);
  await page.click('th button[data-sort="actsMonth"]');
  await waitForRows(page, byActs);
  t.is(await page.textContent('th.sorted .arrow'), '▼');
  t.regex(page.url(), /sort=actsMonth&order=desc/, 'the state is in the address');
  await page.click('th button[data-sort="actsMonth"]');
  await waitForRows(page, [...byActs].reverse());
  t.is(await page.textContent('th.sorted .arrow'), '▲');

  // Filtering: typed text (debounced), then an alert.
  await page.fill('input.search', 'Dakar');
  await waitForRows(page, ['SN-DKR-0103']);
  t.regex(page.url(), /q=Dakar/);
  await page.fill('input.search', '');
  await waitForRows(page, [...byActs].reverse());
  await page.selectOption('select[name=alert]', 'overBudget');
  await waitForRows(page, ['CM-DLA-0101']);
  t.regex(await page.textContent('.pager .count') ?? '', /1–1 of 1 centres/);
  await page.click('button.link-button');
  await waitForRows(page, [...byActs].reverse());

  // Pages, from a shared link: two centres a page, the third on the next.
  await page.goto(`${base}/#/?sort=matricule&pageSize=2`);
  await waitForRows(page, byMatricule.slice(0, 2));
  t.is(await page.textContent('.pager .page-of'), 'Page 1 of 2');
  await page.click('.pager button.next');
  await waitForRows(page, byMatricule.slice(2));
  t.is(await page.textContent('.pager .page-of'), 'Page 2 of 2');
  t.true(await page.isDisabled('.pager button.next'));
  await page.click('.pager button.prev');
  await waitForRows(page, byMatricule.slice(0, 2));

  // One centre's page, from its row: the satellite one, with costs and a quarantined SDC.
  const big = seeded[0];
  await page.click(`tr[data-matricule="${big.centre.matricule}"] a`);
  await page.waitForSelector('.centre-head h1');
  t.is(await page.textContent('.centre-head h1'), big.name);
  const charts = await page.$$eval('.centre-page figure.chart', (figs) => figs.map((f) => ({ title: f.querySelector('figcaption')?.textContent, bars: f.querySelectorAll('.bar rect[fill]').length })));
  t.deepEqual(charts.map((c) => c.title), ['Acts received per day, last 90 days', 'Bytes on the link per day', 'Link cost per day']);
  t.true(charts.every((c) => c.bars >= 1), JSON.stringify(charts));
  const tip = await page.$$eval('.centre-page figure.chart:first-of-type .bar', (bars) => bars.map((b) => b.querySelector('title')?.textContent ?? '').find((s) => !s.endsWith('Merged: 0\nAlready there: 0\nRejected: 0')));
  t.regex(tip ?? '', new RegExp(`Merged: ${fmt(big.acts)}`), 'today\'s bar holds every act merged');
  const records = await page.$$eval('.centre-page .two-col .panel:nth-child(2) tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].slice(0, 3).map((td) => td.textContent).join(' ')));
  t.true(records.includes(`births Validated, to send ${big.pending}`), `the backlog its usage report gave: ${JSON.stringify(records)}`);
  const quarantined = await page.$$eval('.centre-page .panel', (panels) => panels.find((p) => p.querySelector('h2')?.textContent === 'Quarantine')?.querySelectorAll('tbody tr').length ?? 0);
  t.is(quarantined, 1, "the impostor's SDC is listed");
  t.truthy(await page.$('.diagnostics button.primary'), 'an admin may ask for a diagnostic report');
  await shot(page, 'dashboard-centre');

  // A phone-sized screen: nothing sticks out sideways (wide tables scroll inside their panel).
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/#/`);
  await waitForRows(page, byMatricule);
  t.true(await page.evaluate(() => { const g = globalThis as any; return g.document.documentElement.scrollWidth <= g.innerWidth; }), 'no sideways scrolling of the page');
  await shot(page, 'dashboard-narrow');

  await page.click('#logout');
  await page.waitForSelector('form.login-card');
  await page.goto(`${base}/#/centre/${big.centre.matricule}`);
  await page.waitForSelector('form.login-card');
  t.deepEqual(problems, [], 'no script error, CSP violation or server error');
  await page.close();

  for (const name of ['dashboard-overview', 'dashboard-centre', 'dashboard-narrow']) {
    const png = readFileSync(`${OUT}${name}.png`);
    t.true(statSync(`${OUT}${name}.png`).size > 10_000, `${name}.png is a real picture`);
    t.is(png.subarray(1, 4).toString('latin1'), 'PNG');
  }
});

test.serial('names are shown as text, never run as HTML; an admin asks a centre for a diagnostic report and reads its checks', async (t) => {
  const rig = await E2eRig.create(services, 'dashboard_text', ['births']);
  t.teardown(() => rig.close());
  const configPath = hubPaths(rig.hubDir).config;
  writeFileSync(configPath, JSON.stringify({ ...JSON.parse(readFileSync(configPath, 'utf8')), http: { port: 0 } }, null, 2));
  const hub = await rig.startHub();
  const base = `http://127.0.0.1:${hub.httpPort}`;
  const hostile = '<img src=x onerror="globalThis.pwned=1">Évry & "Co"';
  const centre = await rig.addCentre({ matricule: 'CM-TXT-0001', count: 50, tables: ['births'] });
  await rig.db.query('UPDATE centres SET name = $2, city = $3 WHERE matricule = $1', ['CM-TXT-0001', hostile, '<b>Town</b>']);
  await centre.enrol();
  // Its MQTT session exists at the broker once it has synced: the request waits there while the agent is stopped.
  const first = await centre.open();
  await first.syncOnce({ timeoutMs: 60_000 }).finally(() => first.close());
  await new StaffStore(rig.db).add({ username: 'amina', password: PASSWORD, role: 'admin', cities: null });

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  await page.goto(`${base}/#/login`);
  await page.fill('#username', 'amina');
  await page.fill('#password', PASSWORD);
  await page.click('form.login-card button[type=submit]');
  await waitForRows(page, ['CM-TXT-0001']);
  t.is(await page.textContent('tr[data-matricule="CM-TXT-0001"] td:nth-child(2)'), hostile);
  t.is(await page.textContent('tr[data-matricule="CM-TXT-0001"] td:nth-child(3)'), '<b>Town</b>');
  t.is(await page.$('table.centres img, table.centres b'), null, 'no element came from the data');

  await page.click('tr[data-matricule="CM-TXT-0001"] a');
  await page.waitForSelector('.diagnostics');
  t.is(await page.textContent('.centre-head h1'), hostile);
  await page.click('.diagnostics button');
  await page.waitForFunction(() => /waiting for the centre/.test((globalThis as any).document.querySelector('.diagnostics .diag-list li:first-child')?.textContent ?? ''));

  // The centre's agent comes up, finds the request on its link and answers with an SDC.
  const agent = await centre.open({ pollMs: 200 });
  const stop = new AbortController();
  const running = agent.run(stop.signal);
  try {
    await pollUntil(async () => (await rig.db.query('SELECT count(*)::int AS n FROM diagnostic_requests WHERE answered_at IS NOT NULL')).rows[0].n, (n) => n === 1, 'the answered diagnostic request', 90_000);
  } finally {
    stop.abort();
    await running;
    await agent.close();
  }
  await page.reload();
  await page.waitForSelector('.diagnostics .checks');
  const rows = await page.$$eval('.diagnostics .checks tr', (trs) => trs.map((tr) => [tr.querySelector('.pill')?.className, tr.querySelector('strong')?.textContent]));
  t.true(rows.length >= 5, `the doctor's checks, one row each: ${JSON.stringify(rows)}`);
  t.true(rows.every(([pill]) => /^pill (ok|warn|fail)$/.test(pill ?? '')), 'each check shows ok, warn or fail');
  t.truthy(rows.find(([pill, title]) => pill === 'pill ok' && title === "Centre's database"));
  t.truthy(rows.find(([, title]) => title === 'Clock'));
  t.is(await page.evaluate(() => (globalThis as any).pwned), undefined, 'nothing from the data ran');
  t.is(await page.$('.centre-page img'), null);
  await shot(page, 'dashboard-diagnostics');
  t.deepEqual(problems, []);
  await page.close();
});
