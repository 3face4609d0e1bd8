// How figures read for staff: thousands separators, US$ with cents, bytes in
// KB/MB, dates as "3 days ago" with the exact time on hover.

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const money = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const decimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

export const fmtInt = (n) => integer.format(Number(n) || 0);
export const fmtUsd = (n) => `US$ ${money.format(Number(n) || 0)}`;

export function fmtBytes(n) {
  const v = Number(n) || 0;
  if (v < 1024) return `${integer.format(v)} B`;
  if (v < 1024 ** 2) return `${decimal.format(v / 1024)} KB`;
  if (v < 1024 ** 3) return `${decimal.format(v / 1024 ** 2)} MB`;
  return `${decimal.format(v / 1024 ** 3)} GB`;
}

export function fmtDateTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' });
}

export function fmtDate(iso) {
  if (!iso) return '—';
  const d = new Date(iso.length === 10 ? `${iso}T00:00:00Z` : iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleDateString('en-GB', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });
}

export function fmtMonth(month) {
  const d = new Date(`${String(month).slice(0, 7)}-01T00:00:00Z`);
  return Number.isNaN(d.getTime()) ? String(month) : d.toLocaleDateString('en-GB', { month: 'short', year: 'numeric', timeZone: 'UTC' });
}

export function timeAgo(iso, now = Date.now()) {
  if (!iso) return 'never';
  const seconds = Math.round((now - new Date(iso).getTime()) / 1000);
  if (!Number.isFinite(seconds)) return String(iso);
  if (seconds < 60) return 'just now';
  const units = [['year', 365 * 86400], ['month', 30 * 86400], ['day', 86400], ['hour', 3600], ['minute', 60]];
  for (const [name, size] of units) {
    const n = Math.floor(seconds / size);
    if (n >= 1) return `${n} ${name}${n === 1 ? '' : 's'} ago`;
  }
  return 'just now';
}

export const STATUS_NAMES = { 0: 'Suspended', 1: 'Some services', 2: 'No data service', 3: 'Active' };
export const statusName = (s) => STATUS_NAMES[s] ?? `Status ${s}`;

export const ALERT_NAMES = { silent: 'Silent', overBudget: 'Over budget', quarantine: 'Quarantine' };
export const alertName = (a) => ALERT_NAMES[a] ?? a;

export const LINK_NAMES = { mqtt: 'MQTT', stream: 'Modem call', sbd: 'Iridium SBD', t2d: 'USB stick' };
export const linkName = (l) => (l ? LINK_NAMES[l] ?? l : '—');

/** Records' status in a centre's own tables. */
export const RECORD_STATUS = { 0: 'Cancelled', 1: 'New', 2: 'Validated, to send', 3: 'Sent, awaiting receipt', 4: 'Exported' };
