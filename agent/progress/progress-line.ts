import type { ProgressSnapshot } from './progress-tracker.js';

const count = (n: number) => Math.round(n).toLocaleString('en-US');

function decimals(v: number): string {
  return v < 100 ? v.toFixed(1) : Math.round(v).toString();
}

/** Both sizes in the unit of the larger, as "1.2/3.5 MB". Units of 1000, like kbit/s. */
export function formatBytePair(sent: number, total: number): string {
  const units: [number, string][] = [[1e9, 'GB'], [1e6, 'MB'], [1e3, 'kB']];
  const [scale, unit] = units.find(([s]) => total >= s) ?? [1, 'B'];
  if (scale === 1) return `${Math.round(sent)}/${Math.round(total)} B`;
  return `${decimals(sent / scale)}/${decimals(total / scale)} ${unit}`;
}

/** A slow link moves a few acts a minute: below one a second, per minute reads better. */
export function formatActRate(perSecond: number | undefined): string {
  if (perSecond === undefined) return '-- acts/s';
  if (perSecond >= 10) return `${count(perSecond)} acts/s`;
  if (perSecond >= 1) return `${perSecond.toFixed(1)} acts/s`;
  const perMinute = perSecond * 60;
  return `${perMinute >= 10 ? Math.round(perMinute) : perMinute.toFixed(1)} acts/min`;
}

/** Link speeds as carriers quote them: bits a second, in units of 1000. */
export function formatBitRate(bytesPerSecond: number | undefined): string {
  if (bytesPerSecond === undefined) return '-- bit/s';
  const bits = bytesPerSecond * 8;
  if (bits >= 1e6) return `${decimals(bits / 1e6)} Mbit/s`;
  if (bits >= 1e3) return `${decimals(bits / 1e3)} kbit/s`;
  return `${Math.round(bits)} bit/s`;
}

/** 41s, 2m41s, 1h05m, 3d04h: two units at most, the way a waiting person reads a clock. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d${pad(Math.floor((s % 86_400) / 3600))}h`;
}

/** Whole percent, rounded down: 100 only when everything is done. */
export const percentOf = (p: ProgressSnapshot) => (p.finished ? 100 : Math.min(99, Math.floor(p.fraction * 100)));

/** What the text of a line usually takes, " 34% 3,400/10,000 acts  1.2/3.5 MB  41 acts/s  9.6 kbit/s  ETA 2m41s": the bar gets the rest, once, so it keeps its width. */
const USUAL_TEXT = 68;

/**
 * One line for a terminal, `[#####.....]  34% 3,400/10,000 acts  1.2/3.5 MB
 * 41 acts/s  9.6 kbit/s  ETA 2m41s`, never wider than `width` - 1 (a line
 * filling the last column makes some terminals wrap before the \r).
 */
export function formatProgressLine(p: ProgressSnapshot, width = 80): string {
  const room = Math.max(20, width - 1);
  const time = p.finished ? `done in ${formatDuration(p.elapsedMs)}` : p.etaMs === undefined ? 'ETA --' : `ETA ${formatDuration(p.etaMs)}`;
  const parts = [`${count(p.actsDone)}/${count(p.actsTotal)} acts`, formatBytePair(p.bytesSent, p.bytesTotal), formatActRate(p.actsPerSecond), formatBitRate(p.bytesPerSecond), time];
  const bar = Math.max(8, Math.min(30, room - USUAL_TEXT - 3));
  // Least useful first: what goes when the figures are unusually long or the terminal narrow.
  const dropOrder = [2, 1, 3];
  let text = '';
  for (;;) {
    text = `${`${percentOf(p)}%`.padStart(4)} ${parts.filter((x) => x !== '').join('  ')}`;
    if (text.length + bar + 3 <= room || dropOrder.length === 0) break;
    parts[dropOrder.shift()!] = '';
  }
  const inner = Math.max(1, Math.min(bar, room - text.length - 3));
  const filled = Math.min(inner, Math.floor(p.fraction * inner));
  return `[${'#'.repeat(filled)}${'.'.repeat(inner - filled)}] ${text}`.slice(0, room);
}

/** The same snapshot as fields of a JSON log line, for a log file or journald, where a bar redrawn with \r would be noise. */
export function progressFields(p: ProgressSnapshot): Record<string, number | boolean | null> {
  const round = (v: number | undefined, digits: number) => (v === undefined ? null : Math.round(v * 10 ** digits) / 10 ** digits);
  return {
    percent: percentOf(p), actsDone: p.actsDone, actsTotal: p.actsTotal, bytesSent: p.bytesSent, bytesTotal: p.bytesTotal,
    actsPerSecond: round(p.actsPerSecond, 2), bitsPerSecond: round(p.bytesPerSecond === undefined ? undefined : p.bytesPerSecond * 8, 0),
    etaSeconds: p.etaMs === undefined ? null : Math.round(p.etaMs / 1000), elapsedSeconds: Math.round(p.elapsedMs / 1000), finished: p.finished,
  };
}
