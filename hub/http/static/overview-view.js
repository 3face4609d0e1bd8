// The hub at a glance: centres, what needs a look, what waits at centres,
// what arrived and what the links cost.
import { api } from './api.js';
import { barChart, lastDays, shortDay } from './charts.js';
import { h, replace } from './dom.js';
import { fmtBytes, fmtInt, fmtMonth, fmtUsd, linkName, statusName } from './format.js';

const card = (title, value, sub, extra) => h('div', { class: 'card' }, h('div', { class: 'card-title' }, title), h('div', { class: 'card-value' }, value), sub ? h('div', { class: 'card-sub' }, sub) : null, extra);

function alertRow(label, n, href, hint) {
  const body = [h('span', null, label), h('span', { class: `count${n > 0 ? ' hot' : ''}` }, fmtInt(n))];
  return h('li', { title: hint }, href && n > 0 ? h('a', { href }, body) : h('span', { class: 'row' }, body));
}

export function overviewView() {
  const element = h('div', { class: 'overview' }, h('div', { class: 'cards' }, h('div', { class: 'card skeleton' }), h('div', { class: 'card skeleton' }), h('div', { class: 'card skeleton' }), h('div', { class: 'card skeleton' })));

  async function load() {
    let o;
    try {
      o = await api('/api/overview');
    } catch (e) {
      replace(element, h('div', { class: 'banner error', role: 'alert' }, e.message));
      return;
    }
    const month = new Date().toISOString().slice(0, 7);
    const thisMonth = o.costByMonth.filter((c) => String(c.month).slice(0, 7) === month);
    const monthCost = thisMonth.reduce((t, c) => t + c.costUsd, 0);
    const monthBytes = thisMonth.reduce((t, c) => t + c.bytes, 0);
    const acts30 = o.actsByDay.reduce((t, d) => t + d.merged, 0);
    const statusList = h('ul', { class: 'mini-list' }, Object.entries(o.centres.byStatus).sort(([a], [b]) => Number(b) - Number(a))
      .map(([s, n]) => h('li', null, h('a', { href: `#/?status=${s}` }, h('span', null, statusName(s)), h('span', { class: 'count' }, fmtInt(n))))));
    const alerts = h('ul', { class: 'mini-list alerts-list' },
      alertRow('Silent', o.alerts.silent, '#/?alert=silent', 'No SDC received for several days'),
      alertRow('Over budget', o.alerts.overBudget, '#/?alert=overBudget', 'Link cost this month above the centre\'s budget'),
      alertRow('SDCs in quarantine', o.alerts.quarantine, '#/?alert=quarantine', 'Centres whose recent SDCs were quarantined'),
      alertRow('Unattributed quarantine', o.alerts.unattributedQuarantine, null, 'Quarantined SDCs no registered centre could be named for'));
    const days = lastDays(30);
    const byDay = new Map(o.actsByDay.map((d) => [String(d.day).slice(0, 10), d]));
    const months = [...new Set(o.costByMonth.map((c) => String(c.month).slice(0, 7)))].sort();
    const links = [...new Set(o.costByMonth.map((c) => c.link))].sort();
    replace(element,
      h('div', { class: 'cards' },
        card('Centres', fmtInt(o.centres.total), null, statusList),
        card('Alerts', fmtInt(o.alerts.silent + o.alerts.overBudget + o.alerts.quarantine), 'centres need a look', alerts),
        card('Backlog', fmtInt(o.backlog), 'records waiting at centres, as last reported', h('div', { class: 'card-foot' }, `${fmtInt(acts30)} acts received in 30 days`)),
        card('Link cost this month', fmtUsd(monthCost), `${fmtBytes(monthBytes)} carried`,
          h('ul', { class: 'mini-list' }, thisMonth.map((c) => h('li', null, h('span', { class: 'row' }, h('span', null, linkName(c.link)), h('span', { class: 'count' }, fmtUsd(c.costUsd))))))),
      ),
      h('div', { class: 'charts' },
        h('section', { class: 'panel' }, barChart({
          title: 'Acts received per day, last 30 days',
          series: [{ key: 'merged', name: 'Acts merged' }],
          points: days.map((d) => ({ label: shortDay(d), tip: d, values: { merged: byDay.get(d)?.merged ?? 0 } })),
          format: fmtInt, emptyText: 'No acts received in 30 days',
        })),
        h('section', { class: 'panel' }, barChart({
          title: 'Link cost per month',
          series: links.map((l) => ({ key: l, name: linkName(l) })),
          points: months.map((mo) => ({ label: fmtMonth(mo), values: Object.fromEntries(o.costByMonth.filter((c) => String(c.month).slice(0, 7) === mo).map((c) => [c.link, c.costUsd])) })),
          format: (v) => fmtUsd(v).replace('US$ ', '$'), emptyText: 'No usage reported yet',
        })),
      ),
    );
  }

  return { element, load };
}
