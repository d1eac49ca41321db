/**
 * Inline SVG charts for the run reports: self-contained markup (no script, no external CSS or
 * fonts), so a report opens offline and under a `default-src 'none'` content security policy.
 * Hand-written: the charting libraries we could use need a DOM or a browser, or ship scripts.
 */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML/SVG element content and attribute values. */
export function escapeXml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

const fmt = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 1 ? x.toFixed(2) : x.toFixed(3));

/** Up to ~5 round tick values covering [0, max]. */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude;
  const ticks: number[] = [];
  for (let v = 0; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if ((ticks.at(-1) ?? 0) < max) ticks.push(Number((ticks.length * step).toPrecision(12)));
  return ticks;
}

export interface LineSeries {
  name: string;
  color: string;
  /** One value per x label; null leaves a gap. */
  values: (number | null)[];
  dashed?: boolean;
}

export interface LineChartOptions {
  title: string;
  /** Short axis labels, one per x position. */
  xLabels: string[];
  /** Full names for tooltips (default: the labels). */
  xTitles?: string[];
  series: LineSeries[];
  /** x indexes to mark with a ring (e.g. versions that became champion). */
  highlight?: { index: number; label: string }[];
  width?: number;
  height?: number;
}

interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
  yMax: number;
  y: (v: number) => number;
}

function frame(width: number, height: number, values: number[], legendRows: number): Frame {
  const left = 52;
  const right = 16;
  const top = 34 + legendRows * 16;
  const bottom = 46;
  const ticks = niceTicks(Math.max(0, ...values.filter(Number.isFinite)));
  const yMax = ticks.at(-1) ?? 1;
  const plotH = height - top - bottom;
  return { width, height, left, right, top, bottom, yMax, y: (v) => top + plotH - (v / yMax) * plotH };
}

function axes(f: Frame): string {
  const parts: string[] = [];
  for (const t of niceTicks(f.yMax)) {
    const y = f.y(t).toFixed(1);
    parts.push(`<line x1="${f.left}" x2="${f.width - f.right}" y1="${y}" y2="${y}" stroke="#e3e6ea"/>`);
    parts.push(`<text x="${f.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="11" fill="#555">${fmt(t)}</text>`);
  }
  parts.push(`<line x1="${f.left}" x2="${f.left}" y1="${f.top}" y2="${f.height - f.bottom}" stroke="#888"/>`);
  parts.push(`<line x1="${f.left}" x2="${f.width - f.right}" y1="${f.height - f.bottom}" y2="${f.height - f.bottom}" stroke="#888"/>`);
  return parts.join('');
}

function legend(items: { name: string; color: string; dashed?: boolean }[], width: number): { svg: string; rows: number } {
  const parts: string[] = [];
  let x = 52;
  let row = 0;
  for (const item of items) {
    const w = 34 + item.name.length * 7.2;
    if (x + w > width - 10) {
      x = 52;
      row += 1;
    }
    const y = 30 + row * 16;
    parts.push(
      `<line x1="${x}" x2="${x + 16}" y1="${y}" y2="${y}" stroke="${escapeXml(item.color)}" stroke-width="3"${item.dashed ? ' stroke-dasharray="5 3"' : ''}/>`,
      `<text x="${x + 20}" y="${y}" dominant-baseline="middle" font-size="11" fill="#333">${escapeXml(item.name)}</text>`,
    );
    x += w;
  }
  return { svg: parts.join(''), rows: row + 1 };
}

function open(width: number, height: number, title: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-label="${escapeXml(title)}" font-family="system-ui, sans-serif">` +
    `<title>${escapeXml(title)}</title><text x="${width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="600" fill="#222">${escapeXml(title)}</text>`
  );
}

/** A line chart of several series over the same categorical x axis (e.g. model versions). */
export function lineChart(options: LineChartOptions): string {
  const width = options.width ?? 720;
  const height = options.height ?? 280;
  const legendItems = [...options.series, ...(options.highlight?.length ? [{ name: 'became champion', color: '#f0b400', dashed: true }] : [])];
  const { svg: legendSvg, rows } = legend(legendItems, width);
  const f = frame(
    width,
    height,
    options.series.flatMap((s) => s.values.filter((v): v is number => v !== null)),
    rows,
  );
  const n = Math.max(1, options.xLabels.length);
  const inset = 24;
  const plotW = width - f.left - f.right - 2 * inset;
  const x = (i: number) => f.left + inset + (n === 1 ? plotW / 2 : (i / (n - 1)) * plotW);
  const titles = options.xTitles ?? options.xLabels;
  const parts = [open(width, height, options.title), legendSvg, axes(f)];
  // At most ~7 labels, evenly spaced; the last one only when it does not crowd its neighbour.
  const labelEvery = Math.max(1, Math.ceil(n / 7));
  options.xLabels.forEach((label, i) => {
    const regular = i % labelEvery === 0;
    const lastAlone = i === n - 1 && n > 1 && ((n - 1) % labelEvery) * (plotW / (n - 1)) >= 72;
    if (!regular && !lastAlone) return;
    const short = label.length > 14 ? `${label.slice(0, 13)}…` : label;
    parts.push(
      `<text x="${x(i).toFixed(1)}" y="${height - f.bottom + 14}" text-anchor="middle" font-size="10" fill="#555">${escapeXml(short)}<title>${escapeXml(titles[i] ?? label)}</title></text>`,
    );
  });
  for (const h of options.highlight ?? []) {
    parts.push(
      `<line x1="${x(h.index).toFixed(1)}" x2="${x(h.index).toFixed(1)}" y1="${f.top}" y2="${height - f.bottom}" stroke="#f0b400" stroke-dasharray="2 3"><title>${escapeXml(h.label)}</title></line>`,
    );
  }
  for (const s of options.series) {
    let d = '';
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) return;
      d += `${d === '' || s.values[i - 1] === null || s.values[i - 1] === undefined ? 'M' : 'L'}${x(i).toFixed(1)} ${f.y(v).toFixed(1)} `;
    });
    if (d) parts.push(`<path d="${d.trim()}" fill="none" stroke="${escapeXml(s.color)}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) return;
      parts.push(
        `<circle cx="${x(i).toFixed(1)}" cy="${f.y(v).toFixed(1)}" r="3.5" fill="${escapeXml(s.color)}"><title>${escapeXml(`${s.name} @ ${titles[i] ?? i}: ${v.toFixed(4)}`)}</title></circle>`,
      );
    });
  }
  parts.push('</svg>');
  return parts.join('');
}

export interface BarSeries {
  name: string;
  color: string;
  /** One value per group; null = not measured (no bar). */
  values: (number | null)[];
}

/** Grouped bars: one group per metric, one bar per series (candidate, champion, baseline). */
export function groupedBarChart(options: { title: string; groups: string[]; series: BarSeries[]; width?: number; height?: number }): string {
  const width = options.width ?? 720;
  const height = options.height ?? 260;
  const { svg: legendSvg, rows } = legend(options.series, width);
  const f = frame(
    width,
    height,
    options.series.flatMap((s) => s.values.filter((v): v is number => v !== null)),
    rows,
  );
  const plotW = width - f.left - f.right;
  const groupW = plotW / Math.max(1, options.groups.length);
  const barW = Math.min(36, (groupW * 0.8) / Math.max(1, options.series.length));
  const parts = [open(width, height, options.title), legendSvg, axes(f)];
  options.groups.forEach((group, g) => {
    const start = f.left + g * groupW + (groupW - barW * options.series.length) / 2;
    options.series.forEach((s, k) => {
      const v = s.values[g];
      if (v === null || v === undefined || !Number.isFinite(v)) return;
      const y = f.y(v);
      const x = start + k * barW;
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(height - f.bottom - y).toFixed(1)}" fill="${escapeXml(s.color)}"><title>${escapeXml(`${s.name} ${group}: ${v.toFixed(4)}`)}</title></rect>`,
      );
    });
    parts.push(
      `<text x="${(f.left + g * groupW + groupW / 2).toFixed(1)}" y="${height - f.bottom + 14}" text-anchor="middle" font-size="11" fill="#333">${escapeXml(group)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}
