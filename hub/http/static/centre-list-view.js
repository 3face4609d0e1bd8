// The centre list: sorted, filtered and paged by the hub (100,000 centres
// never come to the browser), its state in the address so a view can be shared.
import { api, queryString } from './api.js';
import { debounce, h, replace } from './dom.js';
import { ALERT_NAMES, LINK_NAMES, STATUS_NAMES, alertName, fmtDateTime, fmtInt, fmtUsd, linkName, statusName, timeAgo } from './format.js';

export const LIST_DEFAULTS = { sort: 'matricule', order: 'asc', page: '1', pageSize: '25' };
const PAGE_SIZES = ['25', '50', '100', '200'];

const COLUMNS = [
  { key: 'matricule', label: 'Matricule', first: 'asc' },
  { key: 'name', label: 'Name', first: 'asc' },
  { key: 'city', label: 'City', first: 'asc' },
  { key: 'status', label: 'Status', first: 'asc' },
  { key: 'lastContact', label: 'Last contact', first: 'desc' },
  { key: 'link', label: 'Link', first: 'asc' },
  { key: 'backlog', label: 'Backlog', first: 'desc', num: true },
  { key: 'actsMonth', label: 'Acts this month', first: 'desc', num: true },
  { key: 'costMonth', label: 'Cost this month', first: 'desc', num: true },
  { key: null, label: 'Alerts' },
];

export const statusBadge = (status) => h('span', { class: `badge status-${status}` }, statusName(status));
export const alertBadges = (alerts) => (alerts ?? []).map((a) => h('span', { class: `badge alert alert-${a}` }, alertName(a)));

function select(name, label, options, value, onChange) {
  const el = h('select', { name, 'aria-label': label, onchange: () => onChange(el.value) },
    options.map(([v, text]) => h('option', { value: v }, text)));
  el.value = value ?? '';
  return el;
}

function costCell(row) {
  const cost = h('div', { class: 'cost' }, fmtUsd(row.costMonthUsd));
  if (row.budgetUsd === null || row.budgetUsd === undefined) return h('td', { class: 'num' }, cost);
  const ratio = row.budgetUsd > 0 ? row.costMonthUsd / row.budgetUsd : 1;
  return h('td', { class: `num${ratio > 1 ? ' over' : ''}` }, cost,
    h('div', { class: 'budget' }, `of ${fmtUsd(row.budgetUsd)}`),
    h('div', { class: 'meter', title: `${Math.round(ratio * 100)}% of the monthly budget` }, h('span', { style: { width: `${Math.min(100, ratio * 100)}%` } })));
}

function rowOf(row) {
  const href = `#/centre/${encodeURIComponent(row.matricule)}`;
  return h('tr', { class: 'clickable', dataset: { matricule: row.matricule }, onclick: (ev) => { if (!ev.target.closest('a')) location.hash = href; } },
    h('td', null, h('a', { href, class: 'mono' }, row.matricule)),
    h('td', null, row.name),
    h('td', null, row.city ?? '—'),
    h('td', null, statusBadge(row.status)),
    h('td', { title: fmtDateTime(row.lastContact) }, timeAgo(row.lastContact)),
    h('td', null, linkName(row.link), row.profile ? h('div', { class: 'sub' }, row.profile) : null),
    h('td', { class: 'num', title: row.backlogReportedAt ? `as reported ${fmtDateTime(row.backlogReportedAt)}` : 'not reported yet' }, fmtInt(row.backlog)),
    h('td', { class: 'num' }, fmtInt(row.actsMonth)),
    costCell(row),
    h('td', { class: 'alerts' }, alertBadges(row.alerts)),
  );
}

/** `query`: the address's parameters; `navigate(changes, replaceHistory)` updates them. */
export function centreListView(navigate) {
  let query = { ...LIST_DEFAULTS };
  let seq = 0;
  const search = h('input', { type: 'search', name: 'q', placeholder: 'Search matricule, name or city', 'aria-label': 'Search centres', class: 'search' });
  const typed = debounce(() => navigate({ q: search.value.trim(), page: '1' }, true), 300);
  search.addEventListener('input', typed);
  const filters = h('div', { class: 'filters' });
  const table = h('table', { class: 'centres' });
  const pager = h('div', { class: 'pager' });
  const error = h('div', { class: 'banner error', role: 'alert', hidden: true });
  const wrap = h('div', { class: 'table-wrap' }, table);
  const section = h('section', { class: 'panel list-panel' },
    h('div', { class: 'panel-head' }, h('h2', null, 'Centres'), search), filters, error, wrap, pager);

  const renderFilters = () => replace(filters,
    select('status', 'Status', [['', 'All statuses'], ...Object.entries(STATUS_NAMES)], query.status, (v) => navigate({ status: v, page: '1' })),
    select('alert', 'Alert', [['', 'Any or no alert'], ...Object.entries(ALERT_NAMES)], query.alert, (v) => navigate({ alert: v, page: '1' })),
    select('link', 'Link', [['', 'All links'], ...Object.entries(LINK_NAMES)], query.link, (v) => navigate({ link: v, page: '1' })),
    (query.q || query.status || query.alert || query.link) ? h('button', { class: 'link-button', onclick: () => { search.value = ''; navigate({ q: '', status: '', alert: '', link: '', page: '1' }); } }, 'Clear filters') : null,
  );

  const renderHead = () => h('thead', null, h('tr', null, COLUMNS.map((c) => {
    if (!c.key) return h('th', null, c.label);
    const active = query.sort === c.key;
    const arrow = active ? (query.order === 'asc' ? '▲' : '▼') : '';
    const next = active ? (query.order === 'asc' ? 'desc' : 'asc') : c.first;
    return h('th', { class: `${c.num ? 'num ' : ''}sortable${active ? ' sorted' : ''}`, 'aria-sort': active ? (query.order === 'asc' ? 'ascending' : 'descending') : 'none' },
      h('button', { type: 'button', dataset: { sort: c.key }, onclick: () => navigate({ sort: c.key, order: next, page: '1' }) }, c.label, h('span', { class: 'arrow' }, arrow)));
  })));

  const renderPager = (data) => {
    const pages = Math.max(1, Math.ceil(data.total / data.pageSize));
    const from = data.total === 0 ? 0 : (data.page - 1) * data.pageSize + 1;
    const to = Math.min(data.total, data.page * data.pageSize);
    replace(pager,
      h('span', { class: 'count' }, `${fmtInt(from)}–${fmtInt(to)} of ${fmtInt(data.total)} centres`),
      h('span', { class: 'spacer' }),
      h('label', { class: 'page-size' }, 'Per page ', select('pageSize', 'Centres per page', [...new Set([...PAGE_SIZES, String(data.pageSize)])].sort((x, y) => x - y).map((n) => [n, n]), String(data.pageSize), (v) => navigate({ pageSize: v, page: '1' }))),
      h('button', { type: 'button', class: 'prev', disabled: data.page <= 1, onclick: () => navigate({ page: String(data.page - 1) }) }, '‹ Prev'),
      h('span', { class: 'page-of' }, `Page ${fmtInt(data.page)} of ${fmtInt(pages)}`),
      h('button', { type: 'button', class: 'next', disabled: data.page >= pages, onclick: () => navigate({ page: String(data.page + 1) }) }, 'Next ›'),
    );
  };

  async function update(params) {
    query = { ...LIST_DEFAULTS, ...params };
    if (document.activeElement !== search) search.value = query.q ?? '';
    renderFilters();
    const mine = ++seq;
    section.classList.add('loading');
    try {
      const data = await api(`/api/centres?${queryString({ q: query.q, status: query.status, alert: query.alert, link: query.link, sort: query.sort, order: query.order, page: query.page, pageSize: query.pageSize })}`);
      if (mine !== seq) return; // a later request answers for the current state
      error.hidden = true;
      const body = data.rows.length
        ? h('tbody', null, data.rows.map(rowOf))
        : h('tbody', null, h('tr', null, h('td', { colspan: COLUMNS.length, class: 'empty-row' }, 'No centre matches these filters.')));
      replace(table, renderHead(), body);
      renderPager(data);
    } catch (e) {
      if (mine !== seq) return;
      error.textContent = e.message;
      error.hidden = false;
    } finally {
      if (mine === seq) section.classList.remove('loading');
    }
  }

  return { element: section, update };
}
