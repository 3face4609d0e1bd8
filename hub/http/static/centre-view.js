// One centre: who it is, what waits there, what arrived, what its link
// costs, what went wrong, and (for admins) a diagnostic report on request.
import { api } from './api.js';
import { barChart, lastDays, shortDay } from './charts.js';
import { alertBadges, statusBadge } from './centre-list-view.js';
import { h, replace } from './dom.js';
import { RECORD_STATUS, fmtBytes, fmtDate, fmtDateTime, fmtInt, fmtMonth, fmtUsd, linkName, timeAgo } from './format.js';
import { diagnosticsPanel } from './diagnostics-view.js';

const fact = (label, value, title) => [h('dt', null, label), h('dd', title ? { title } : null, value ?? '—')];
const table = (head, rows, empty) => rows.length
  ? h('div', { class: 'table-wrap' }, h('table', { class: 'data' }, h('thead', null, h('tr', null, head.map(([label, num]) => h('th', num ? { class: 'num' } : null, label)))), h('tbody', null, rows)))
  : h('p', { class: 'muted' }, empty);
const panel = (title, ...body) => h('section', { class: 'panel' }, h('h2', null, title), ...body);

export function centreView(matricule, user) {
  const element = h('div', { class: 'centre-page' }, h('p', { class: 'muted' }, 'Loading…'));

  async function load() {
    let d;
    try {
      d = await api(`/api/centres/${encodeURIComponent(matricule)}`);
    } catch (e) {
      replace(element, h('a', { href: '#/', class: 'back' }, '‹ All centres'), h('div', { class: 'banner error', role: 'alert' }, e.status === 404 ? `No centre ${matricule} among those you may see.` : e.message));
      return;
    }
    const c = d.centre;
    const days = lastDays(90);
    const acts = new Map(d.actsByDay.map((a) => [String(a.day).slice(0, 10), a]));
    const usage = new Map();
    for (const u of d.usageByDay) {
      const day = String(u.day).slice(0, 10);
      const v = usage.get(day) ?? { bytesUp: 0, bytesDown: 0, costUsd: 0 };
      v.bytesUp += u.bytesUp; v.bytesDown += u.bytesDown; v.costUsd += u.costUsd;
      usage.set(day, v);
    }
    const backlogRows = d.backlog.map((b) => h('tr', null, h('td', null, b.table), h('td', null, RECORD_STATUS[b.status] ?? b.status), h('td', { class: 'num' }, fmtInt(b.records)), h('td', { title: fmtDateTime(b.reportedAt) }, timeAgo(b.reportedAt))));
    replace(element,
      h('a', { href: '#/', class: 'back' }, '‹ All centres'),
      h('header', { class: 'centre-head' },
        h('div', null, h('h1', null, c.name), h('div', { class: 'mono sub' }, c.matricule, c.city ? ` · ${c.city}` : '')),
        h('div', { class: 'badges' }, statusBadge(c.status), alertBadges(c.alerts))),
      h('div', { class: 'cards' },
        h('div', { class: 'card' }, h('div', { class: 'card-title' }, 'Last contact'), h('div', { class: 'card-value', title: fmtDateTime(c.lastContact) }, timeAgo(c.lastContact)), h('div', { class: 'card-sub' }, linkName(c.link), c.profile ? ` · ${c.profile}` : '')),
        h('div', { class: 'card' }, h('div', { class: 'card-title' }, 'Backlog'), h('div', { class: 'card-value' }, fmtInt(c.backlog)), h('div', { class: 'card-sub' }, c.backlogReportedAt ? `records waiting, reported ${timeAgo(c.backlogReportedAt)}` : 'not reported yet')),
        h('div', { class: 'card' }, h('div', { class: 'card-title' }, 'Acts this month'), h('div', { class: 'card-value' }, fmtInt(c.actsMonth))),
        h('div', { class: `card${c.alerts.includes('overBudget') ? ' card-over' : ''}` }, h('div', { class: 'card-title' }, 'Link cost this month'), h('div', { class: 'card-value' }, fmtUsd(c.costMonthUsd)), h('div', { class: 'card-sub' }, c.budgetUsd === null ? 'no budget set' : `budget ${fmtUsd(c.budgetUsd)}`)),
      ),
      h('div', { class: 'two-col' },
        panel('Details', h('dl', { class: 'facts' },
          fact('Phone', c.phone), fact('E-mail', c.email),
          fact('Enrolled', c.enrolled ? 'Yes' : 'No, waiting for its agent to enrol'),
          fact('Certificate expires', c.certificateExpires ? fmtDate(c.certificateExpires) : '—'),
          fact('Credit account', c.credit), fact('Last SDC sequence', c.lastSequence),
          fact('Registered', fmtDate(c.createdAt)))),
        panel('Records at the centre, as last reported', table([['Table'], ['Status'], ['Records', true], ['Reported']], backlogRows, 'The centre has not reported its records yet.')),
      ),
      h('section', { class: 'panel' }, barChart({
        title: 'Acts received per day, last 90 days',
        series: [{ key: 'merged', name: 'Merged' }, { key: 'duplicates', name: 'Already there', color: '#94a3b8' }, { key: 'rejected', name: 'Rejected', color: '#dc2626' }],
        points: days.map((day) => { const a = acts.get(day); return { label: shortDay(day), tip: fmtDate(day), values: { merged: a?.merged ?? 0, duplicates: a?.duplicates ?? 0, rejected: a?.rejected ?? 0 } }; }),
        format: fmtInt, emptyText: 'No acts received in 90 days',
      })),
      h('div', { class: 'two-col' },
        h('section', { class: 'panel' }, barChart({
          title: 'Bytes on the link per day',
          series: [{ key: 'bytesUp', name: 'Sent' }, { key: 'bytesDown', name: 'Received', color: '#0d9488' }],
          points: days.map((day) => ({ label: shortDay(day), tip: fmtDate(day), values: usage.get(day) ?? {} })),
          format: fmtBytes, unit: 1024, height: 170, emptyText: 'No usage reported in 90 days',
        })),
        h('section', { class: 'panel' }, barChart({
          title: 'Link cost per day',
          series: [{ key: 'costUsd', name: 'Cost', color: '#d97706' }],
          points: days.map((day) => ({ label: shortDay(day), tip: fmtDate(day), values: usage.get(day) ?? {} })),
          format: (v) => fmtUsd(v).replace('US$ ', '$'), height: 170, emptyText: 'No cost in 90 days',
        })),
      ),
      panel('Usage per month', table([['Month'], ['Link'], ['Bytes', true], ['Cost', true]],
        [...d.usageByMonth].reverse().map((u) => h('tr', null, h('td', null, fmtMonth(u.month)), h('td', null, linkName(u.link)), h('td', { class: 'num' }, fmtBytes(u.bytes)), h('td', { class: 'num' }, fmtUsd(u.costUsd)))),
        'No usage reported yet.')),
      panel('Quarantine', table([['Received'], ['Via'], ['Code'], ['Reason'], ['Size', true]],
        d.quarantine.map((q) => h('tr', null, h('td', { title: fmtDateTime(q.receivedAt) }, timeAgo(q.receivedAt)), h('td', null, linkName(q.via)), h('td', { class: 'mono' }, q.code), h('td', { class: 'reason' }, q.reason), h('td', { class: 'num' }, fmtBytes(q.size)))),
        'Nothing from this centre is in quarantine.')),
      diagnosticsPanel(c.matricule, d.diagnostics, user, load),
    );
  }

  return { element, load };
}
