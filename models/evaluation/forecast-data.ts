/**
 * Daily demand data sets for `npm run evaluate -- forecast` (models/evaluation/forecast.ts):
 *
 * - `online-retail`: the Online Retail II invoice CSV (gzipped or not). Units = Σ positive Quantity
 *   per StockCode and InvoiceDate day (the file's local day). Skipped and counted: cancellations
 *   (Invoice starting with C), adjustments (Invoice starting with A), other non-positive quantities
 *   (stock corrections), non-product codes (POST, DOT, M, BANK CHARGES, … — the importer's list in
 *   shared/capture/mappings/online-retail-ii.ts), unreadable rows (bad date or quantity). The price is
 *   the unit-weighted mean Price of the day's sale rows.
 * - `daily`: CSV with header `date,item_id,units` and an optional `price` column; rows with a bad date,
 *   a missing item, non-numeric or negative units are skipped and counted (returns are not demand).
 *
 * Days without a row are zero-sale days. Every item's series covers the file's first to last day.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import { DEFAULT_NON_PRODUCT_CODES } from '../../shared/capture/mappings/online-retail-ii';
import { makeSeries, type SeriesSet } from '../demand/features';

export const FORECAST_FORMATS = ['online-retail', 'daily'] as const;
export type ForecastFormat = (typeof FORECAST_FORMATS)[number];

export interface LoadedDaily {
  set: SeriesSet;
  rows: number;
  /** Rows left out, by reason. */
  skipped: Record<string, number>;
}

const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

function readText(path: string): string {
  const bytes = readFileSync(path);
  return (bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes).toString('utf8');
}

class DailyAccumulator {
  private readonly units = new Map<string, Map<string, number>>();
  private readonly revenue = new Map<string, Map<string, number>>();
  private readonly priced = new Map<string, Map<string, number>>();
  readonly skipped: Record<string, number> = {};

  skip(reason: string): void {
    this.skipped[reason] = (this.skipped[reason] ?? 0) + 1;
  }

  add(item: string, day: string, units: number, price?: number): void {
    const add = (m: Map<string, Map<string, number>>, v: number) => {
      let byDay = m.get(item);
      if (!byDay) {
        byDay = new Map();
        m.set(item, byDay);
      }
      byDay.set(day, (byDay.get(day) ?? 0) + v);
    };
    add(this.units, units);
    if (price !== undefined && Number.isFinite(price) && price > 0) {
      add(this.revenue, units * price);
      add(this.priced, units);
    }
  }

  build(rows: number): LoadedDaily {
    const allDays = new Set<string>();
    for (const byDay of this.units.values()) for (const d of byDay.keys()) allDays.add(d);
    if (allDays.size === 0) return { set: { days: [], series: [] }, rows, skipped: this.skipped };
    const sorted = [...allDays].sort();
    const first = Date.parse(`${sorted[0]}T00:00:00Z`);
    const last = Date.parse(`${sorted.at(-1)}T00:00:00Z`);
    const days: string[] = [];
    for (let t = first; t <= last; t += 86_400_000) days.push(new Date(t).toISOString().slice(0, 10));
    const index = new Map(days.map((d, k) => [d, k]));
    const series = [...this.units.keys()].sort().map((item) => {
      const units = new Float64Array(days.length);
      const price = new Float64Array(days.length).fill(Number.NaN);
      for (const [d, u] of this.units.get(item) ?? []) units[index.get(d) as number] = u;
      const rev = this.revenue.get(item);
      const pr = this.priced.get(item);
      if (rev && pr) for (const [d, r] of rev) if ((pr.get(d) ?? 0) > 0) price[index.get(d) as number] = r / (pr.get(d) as number);
      return makeSeries(item, units, price);
    });
    return { set: { days, series }, rows, skipped: this.skipped };
  }
}

export function loadOnlineRetailDaily(path: string): LoadedDaily {
  const records = parse(readText(path), { columns: true, skip_empty_lines: true, relax_column_count: true, bom: true }) as Record<string, string>[];
  if (records.length && !('StockCode' in (records[0] as object) && 'Quantity' in (records[0] as object) && 'InvoiceDate' in (records[0] as object)))
    throw new Error(`${path}: not an Online Retail II file (expected columns Invoice, StockCode, Quantity, InvoiceDate, Price)`);
  const nonProduct = new Set(DEFAULT_NON_PRODUCT_CODES.map((c) => c.toUpperCase()));
  const acc = new DailyAccumulator();
  for (const r of records) {
    const invoice = (r.Invoice ?? '').trim();
    const code = (r.StockCode ?? '').trim();
    const qty = Number(r.Quantity);
    const day = (r.InvoiceDate ?? '').slice(0, 10);
    if (invoice.startsWith('C')) acc.skip('cancellation rows (invoice C…)');
    else if (invoice.startsWith('A')) acc.skip('adjustment rows (invoice A…)');
    else if (!code || nonProduct.has(code.toUpperCase())) acc.skip('non-product codes (POST, DOT, M, BANK CHARGES, …)');
    else if (!DAY_RE.test(day) || !Number.isFinite(qty)) acc.skip('unreadable date or quantity');
    else if (qty <= 0) acc.skip('non-positive quantities on sale invoices');
    else acc.add(code, day, qty, Number(r.Price));
  }
  return acc.build(records.length);
}

export function loadDailyCsv(path: string): LoadedDaily {
  const records = parse(readText(path), { columns: true, skip_empty_lines: true, trim: true, bom: true }) as Record<string, string>[];
  if (records.length && !('date' in (records[0] as object) && 'item_id' in (records[0] as object) && 'units' in (records[0] as object)))
    throw new Error(`${path}: a daily file needs the header date,item_id,units[,price]`);
  const acc = new DailyAccumulator();
  for (const r of records) {
    const day = (r.date ?? '').slice(0, 10);
    const units = Number(r.units);
    if (!DAY_RE.test(day) || Number.isNaN(Date.parse(`${day}T00:00:00Z`))) acc.skip('bad date');
    else if (!r.item_id) acc.skip('missing item_id');
    else if (r.units === '' || !Number.isFinite(units)) acc.skip('non-numeric units');
    else if (units < 0) acc.skip('negative units (returns are not demand)');
    else acc.add(r.item_id, day, units, r.price !== undefined && r.price !== '' ? Number(r.price) : undefined);
  }
  return acc.build(records.length);
}

export function loadForecastData(format: string, path: string): LoadedDaily {
  if (format === 'online-retail') return loadOnlineRetailDaily(path);
  if (format === 'daily') return loadDailyCsv(path);
  throw new Error(`unknown --format '${format}': one of ${FORECAST_FORMATS.join(', ')}`);
}
