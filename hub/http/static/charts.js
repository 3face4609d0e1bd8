// Bar charts as inline SVG, drawn at the width they get on the page (and
// again when it changes), so labels stay readable on a phone as on a desk.
import { h, s, clear } from './dom.js';

export const PALETTE = ['#2563eb', '#0d9488', '#d97706', '#7c3aed', '#db2777', '#64748b'];

/**
 * A step of 1, 2, 2.5 or 5 times a power of ten, so that four steps cover
 * `v`: round figures on the axis. Bytes (`unit` 1024) round in KB, MB, GB.
 */
function niceStep(v, unit = 1) {
  const raw = v / 4;
  if (!(raw > 0)) return 0.25 * (unit > 1 ? 4 : 1);
  const scale = unit > 1 ? unit ** Math.max(0, Math.floor(Math.log(raw) / Math.log(unit))) : 1;
  return scale * decimalStep(raw / scale);
}

function decimalStep(raw) {
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5]) if (m * p >= raw) return m * p;
  return 10 * p;
}

/**
 * series: [{ key, name, color? }]; points: [{ label, tip?, values: { key: n } }], oldest first.
 * Several series stack in one bar. format(n) writes the axis and tooltips; unit 1024 for bytes.
 */
export function barChart({ title, series, points, format = String, unit = 1, height = 190, emptyText = 'Nothing yet' }) {
  const colored = series.map((sr, i) => ({ ...sr, color: sr.color ?? PALETTE[i % PALETTE.length] }));
  const box = h('div', { class: 'chart-box' });
  const legend = colored.length > 1
    ? h('div', { class: 'legend' }, colored.map((sr) => h('span', { class: 'legend-item' }, h('span', { class: 'swatch', style: { background: sr.color } }), sr.name)))
    : null;
  const figure = h('figure', { class: 'chart' }, title ? h('figcaption', null, title) : null, legend, box);
  let lastWidth = 0;
  const draw = () => {
    const width = Math.floor(box.clientWidth);
    if (width <= 0 || width === lastWidth) return;
    lastWidth = width;
    clear(box).append(render(width, height, colored, points, format, unit, emptyText));
  };
  new ResizeObserver(draw).observe(box);
  return figure;
}

function render(width, height, series, points, format, unit, emptyText) {
  const m = { top: 10, right: 8, bottom: 26, left: 64 };
  const w = Math.max(10, width - m.left - m.right);
  const ih = height - m.top - m.bottom;
  const totals = points.map((p) => series.reduce((t, sr) => t + (Number(p.values[sr.key]) || 0), 0));
  const top = Math.max(0, ...totals);
  const step = niceStep(top, unit);
  // Three to four steps: the highest bar reaches at least half the height.
  // Nothing to show: only the base line, and no made-up scale.
  const ticks = top > 0 ? Math.ceil(top / step) : 0;
  const max = top > 0 ? step * ticks : 1;
  const y = (v) => m.top + ih - (v / max) * ih;
  const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', class: 'chart-svg' });
  for (let i = 0; i <= ticks; i++) {
    const v = step * i;
    svg.append(
      s('line', { x1: m.left, x2: m.left + w, y1: y(v), y2: y(v), class: i === 0 ? 'axis' : 'grid' }),
      s('text', { x: m.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, format(v)),
    );
  }
  const band = w / Math.max(1, points.length);
  const barWidth = Math.max(1, Math.min(28, band * 0.72));
  const labelEvery = Math.max(1, Math.ceil(points.length / Math.max(1, Math.floor(w / 70))));
  points.forEach((p, i) => {
    const x = m.left + band * i + (band - barWidth) / 2;
    let base = 0;
    const group = s('g', { class: 'bar' });
    const tip = [p.tip ?? p.label, ...series.map((sr) => `${sr.name}: ${format(Number(p.values[sr.key]) || 0)}`)].join('\n');
    group.append(s('title', null, tip));
    // A transparent column makes thin or empty bars easy to hover.
    group.append(s('rect', { x: m.left + band * i, y: m.top, width: band, height: ih, class: 'hover-target' }));
    for (const sr of series) {
      const v = Number(p.values[sr.key]) || 0;
      if (v <= 0) continue;
      group.append(s('rect', { x, y: y(base + v), width: barWidth, height: Math.max(1, y(base) - y(base + v)), fill: sr.color, rx: barWidth > 6 ? 2 : 0 }));
      base += v;
    }
    svg.append(group);
    if (i % labelEvery === 0) svg.append(s('text', { x: m.left + band * i + band / 2, y: height - 8, 'text-anchor': 'middle', class: 'tick' }, p.label));
  });
  if (totals.every((t) => t === 0)) svg.append(s('text', { x: m.left + w / 2, y: m.top + ih / 2, 'text-anchor': 'middle', class: 'empty' }, emptyText));
  return svg;
}

/** Every day from `days` ago to today (UTC), as YYYY-MM-DD, so gaps in the data show as empty days. */
export function lastDays(days, now = new Date()) {
  const out = [];
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  for (let i = days - 1; i >= 0; i--) out.push(new Date(today - i * 86400000).toISOString().slice(0, 10));
  return out;
}

export const shortDay = (day) => new Date(`${day}T00:00:00Z`).toLocaleDateString('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' });
