// Diagnostic reports a centre sent on request: its checks as ok/warn/fail
// rows when the report has them, the rest as readable JSON.
import { api } from './api.js';
import { h } from './dom.js';
import { fmtDateTime, linkName, timeAgo } from './format.js';

const STATUS_CLASS = { ok: 'ok', warn: 'warn', fail: 'fail' };

function reportBody(report) {
  const { checks, ...rest } = report;
  const parts = [];
  if (Array.isArray(checks)) {
    parts.push(h('table', { class: 'data checks' }, h('tbody', null, checks.map((c) => h('tr', { class: `check-${STATUS_CLASS[c.status] ?? 'other'}` },
      h('td', null, h('span', { class: `pill ${STATUS_CLASS[c.status] ?? ''}` }, String(c.status ?? '?'))),
      h('td', null, h('strong', null, String(c.title ?? c.id ?? '')), c.detail ? h('div', { class: 'sub' }, String(c.detail)) : null),
      h('td', { class: 'fix' }, c.fix ? String(c.fix) : ''))))));
  }
  const remaining = Array.isArray(checks) ? rest : report;
  if (Object.keys(remaining).length > 0) parts.push(h('pre', { class: 'json' }, JSON.stringify(remaining, null, 2)));
  return parts;
}

export function diagnosticsPanel(matricule, diagnostics, user, reload) {
  const message = h('p', { class: 'banner', hidden: true, role: 'status' });
  const button = user?.role === 'admin'
    ? h('button', { type: 'button', class: 'primary', onclick: async () => {
      button.disabled = true;
      message.hidden = true;
      try {
        const { request } = await api(`/api/centres/${encodeURIComponent(matricule)}/diagnostics`, { method: 'POST', body: {} });
        await reload();
        const note = document.querySelector('.diagnostics-note');
        if (note) note.textContent = `Asked ${fmtDateTime(request.requestedAt)}; ${request.deliveredVia === 'mqtt' ? 'sent now' : 'it goes with the centre\'s next call or stick'}. The answer shows here when the centre replies.`;
      } catch (e) {
        message.textContent = e.message;
        message.className = 'banner error';
        message.hidden = false;
        button.disabled = false;
      }
    } }, 'Ask for a diagnostic report')
    : null;
  const items = diagnostics.map((d) => h('li', { class: 'diagnostic' },
    h('div', { class: 'diag-head' },
      h('span', { title: fmtDateTime(d.requestedAt) }, `Asked ${timeAgo(d.requestedAt)} by ${d.requestedBy}`),
      h('span', { class: 'sub' }, ` · via ${linkName(d.deliveredVia === 'outbound' ? 'next call' : d.deliveredVia)}`),
      d.answeredAt ? h('span', { class: 'pill ok' }, `answered ${timeAgo(d.answeredAt)}`) : h('span', { class: 'pill pending' }, 'waiting for the centre')),
    d.report ? reportBody(d.report) : null));
  return h('section', { class: 'panel diagnostics' },
    h('div', { class: 'panel-head' }, h('h2', null, 'Diagnostic reports'), button),
    h('p', { class: 'muted diagnostics-note' }, user?.role === 'admin' ? 'The centre runs its checks and answers over its own link.' : 'Administrators can ask the centre for a report.'),
    message,
    diagnostics.length ? h('ul', { class: 'diag-list' }, items) : h('p', { class: 'muted' }, 'No report asked for yet.'));
}
