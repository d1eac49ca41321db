/**
 * Daily demand series and the feature rows of the demand family's ONNX model.
 *
 * A row is one (item, forecast origin, horizon step): the origin `o` is the index of the first
 * forecast day (history = the days before it), the step h = 1… names the target day o + h − 1. Every
 * level feature is divided by the item's scale `s` (its mean daily units over the last 56 days of
 * history; the whole history when those are all zero), so one model serves slow and fast items; the
 * model predicts scaled quantiles and the graph multiplies them back by `s` (the second input).
 * The first seven features are the simple baselines' own forecasts (./baselines.ts), so a baseline is
 * the same graph with a one-hot weight column, and the global model can lean on them.
 */
import { crostonLevel, mean, median, sesLevel, tsbLevel } from './baselines';
import type { HolidayCalendar } from './calendar';

/** Bumped when the feature layout or meaning changes (a champion with another version cannot be scored on these rows). */
export const FEATURE_VERSION = 'demand-features@1';

export const FEATURES = [
  'seasonal_naive_7',
  'mean_28',
  'median_28',
  'ses',
  'croston',
  'sba',
  'tsb',
  'mean_7',
  'lag_1',
  'dow_mean_8w',
  'zero_share_28',
  'log_scale',
  'short_history',
  'price_ratio',
  'dow_0',
  'dow_1',
  'dow_2',
  'dow_3',
  'dow_4',
  'dow_5',
  'dow_6',
  'month_sin',
  'month_cos',
  'holiday',
  'pre_holiday',
  'post_holiday',
  'h_1_7',
  'h_8_14',
  'h_15_21',
  'h_22_plus',
] as const;
export const N_FEATURES = FEATURES.length;
export const FEATURE_INDEX: Readonly<Record<(typeof FEATURES)[number], number>> = Object.fromEntries(FEATURES.map((f, k) => [f, k])) as never;
/** Index of the first horizon-bucket feature; buckets are 7 days wide, the last one open. */
export const BUCKET_OFFSET = FEATURE_INDEX.h_1_7;
export const N_BUCKETS = 4;
export const bucketOf = (h: number) => Math.min(N_BUCKETS - 1, Math.floor((h - 1) / 7));

/** One item's daily units over the window (zero-sale days are 0) and the price paid where known (NaN else). */
export interface DemandSeries {
  item: string;
  units: Float64Array;
  price: Float64Array;
  /** Index of the first day with a sale (units.length when none). */
  start: number;
}

export interface SeriesSet {
  /** Every day of the window, YYYY-MM-DD, ascending. */
  days: string[];
  series: DemandSeries[];
}

export function makeSeries(item: string, units: Float64Array, price?: Float64Array): DemandSeries {
  let start = units.length;
  for (let k = 0; k < units.length; k++)
    if ((units[k] as number) > 0) {
      start = k;
      break;
    }
  return { item, units, price: price ?? new Float64Array(units.length).fill(Number.NaN), start };
}

/** Whether an item can be forecast from origin `o`: a sale at least `minHistoryDays` before it. */
export const hasHistory = (s: DemandSeries, o: number, minHistoryDays: number) => s.start <= o - minHistoryDays;

/** Rows: features [n, F], scales [n], targets [n] (NaN where the target day is beyond the data), item index and step per row. */
export interface Rows {
  n: number;
  x: Float32Array;
  scale: Float32Array;
  y: Float64Array;
  series: Int32Array;
  step: Int32Array;
  origin: Int32Array;
}

/** What is known of an item at one origin: its scale and the origin-level features. */
interface OriginState {
  scale: number;
  base: Float64Array;
  /** Last 7 days (oldest first) for the seasonal naive, scaled. */
  last7: number[];
  /** Mean units per weekday (0 Sunday) over the last 8 weeks, scaled. */
  dowMean: number[];
}

const DOW_OF = (day: string) => new Date(`${day}T00:00:00Z`).getUTCDay();

function originState(s: DemandSeries, o: number, dows: Int8Array): OriginState | undefined {
  const from = s.start;
  if (from >= o) return undefined;
  const hist = s.units.subarray(from, o);
  const L = hist.length;
  const tailOf = (n: number) => Array.from(hist.subarray(Math.max(0, L - n)));
  let scale = mean(tailOf(56));
  if (!(scale > 0)) scale = mean(Array.from(hist));
  if (!(scale > 0)) return undefined;
  const last28 = tailOf(28);
  const base = new Float64Array(N_FEATURES);
  base[FEATURE_INDEX.mean_28] = mean(last28) / scale;
  base[FEATURE_INDEX.median_28] = median(last28) / scale;
  base[FEATURE_INDEX.ses] = sesLevel(hist) / scale;
  base[FEATURE_INDEX.croston] = crostonLevel(hist) / scale;
  base[FEATURE_INDEX.sba] = crostonLevel(hist, 0.1, true) / scale;
  base[FEATURE_INDEX.tsb] = tsbLevel(hist) / scale;
  base[FEATURE_INDEX.mean_7] = mean(tailOf(7)) / scale;
  base[FEATURE_INDEX.lag_1] = (hist[L - 1] as number) / scale;
  base[FEATURE_INDEX.zero_share_28] = last28.filter((v) => v <= 0).length / last28.length;
  base[FEATURE_INDEX.log_scale] = Math.log1p(scale) / 5;
  base[FEATURE_INDEX.short_history] = L < 56 ? 1 : 0;
  let lastPrice = Number.NaN;
  let priceSum = 0;
  let priceN = 0;
  for (let k = o - 1; k >= from; k--) {
    const p = s.price[k] as number;
    if (!Number.isFinite(p)) continue;
    if (!Number.isFinite(lastPrice) && k >= o - 28) lastPrice = p;
    priceSum += p;
    priceN++;
  }
  if (Number.isFinite(lastPrice) && priceN > 0 && priceSum > 0)
    base[FEATURE_INDEX.price_ratio] = Math.max(-1, Math.min(1, lastPrice / (priceSum / priceN) - 1));
  const s7 = Math.min(7, L);
  const last7 = Array.from(hist.subarray(L - s7)).map((v) => v / scale);
  const dowSum = [0, 0, 0, 0, 0, 0, 0];
  const dowN = [0, 0, 0, 0, 0, 0, 0];
  for (let k = Math.max(from, o - 56); k < o; k++) {
    const d = dows[k] as number;
    dowSum[d] = (dowSum[d] as number) + (s.units[k] as number);
    dowN[d] = (dowN[d] as number) + 1;
  }
  const dowMean = dowSum.map((v, d) => (dowN[d] ? v / (dowN[d] as number) / scale : (base[FEATURE_INDEX.mean_28] as number)));
  return { scale, base, last7, dowMean };
}

export interface RowRequest {
  /** Forecast origins (index of the first forecast day). */
  origins: readonly number[];
  /** Steps 1..horizon per origin. */
  horizon: number;
  minHistoryDays: number;
  /** Only rows whose target day is before this index (default: no limit; rows beyond the data get y = NaN). */
  targetsBefore?: number;
  /** Which series (default all). */
  seriesIndex?: readonly number[];
}

/** Builds the feature rows of every (series with history, origin, step). */
export function buildRows(set: SeriesSet, calendar: HolidayCalendar, request: RowRequest): Rows {
  const dows = Int8Array.from(set.days, DOW_OF);
  const nDays = set.days.length;
  const dayAt = (k: number) =>
    k < nDays ? (set.days[k] as string) : new Date(Date.parse(`${set.days[0]}T00:00:00Z`) + k * 86_400_000).toISOString().slice(0, 10);
  const calCache = new Map<number, Float64Array>();
  const calendarAt = (k: number) => {
    let c = calCache.get(k);
    if (!c) {
      const day = dayAt(k);
      const f = calendar.features(day);
      const month = Number(day.slice(5, 7)) - 1;
      c = Float64Array.of(DOW_OF(day), Math.sin((2 * Math.PI * month) / 12), Math.cos((2 * Math.PI * month) / 12), f.holiday, f.preHoliday, f.postHoliday);
      calCache.set(k, c);
    }
    return c;
  };
  const which = request.seriesIndex ?? set.series.map((_, k) => k);
  const limit = request.targetsBefore ?? Number.POSITIVE_INFINITY;
  let capacity = 1024;
  let x = new Float32Array(capacity * N_FEATURES);
  let scale = new Float32Array(capacity);
  let y = new Float64Array(capacity);
  let series = new Int32Array(capacity);
  let step = new Int32Array(capacity);
  let origin = new Int32Array(capacity);
  let n = 0;
  const grow = () => {
    capacity *= 2;
    const g32 = (a: Float32Array, m = 1) => {
      const b = new Float32Array(capacity * m);
      b.set(a);
      return b;
    };
    const gi = (a: Int32Array) => {
      const b = new Int32Array(capacity);
      b.set(a);
      return b;
    };
    x = g32(x, N_FEATURES);
    scale = g32(scale);
    const yy = new Float64Array(capacity);
    yy.set(y);
    y = yy;
    series = gi(series);
    step = gi(step);
    origin = gi(origin);
  };
  for (const o of request.origins) {
    for (const si of which) {
      const s = set.series[si] as DemandSeries;
      if (!hasHistory(s, o, request.minHistoryDays)) continue;
      const state = originState(s, o, dows);
      if (!state) continue;
      for (let h = 1; h <= request.horizon; h++) {
        const t = o + h - 1;
        if (t >= limit) break;
        if (n === capacity) grow();
        const row = x.subarray(n * N_FEATURES, (n + 1) * N_FEATURES);
        row.set(state.base);
        const cal = calendarAt(t);
        row[FEATURE_INDEX.seasonal_naive_7] = state.last7[(h - 1) % state.last7.length] as number;
        row[FEATURE_INDEX.dow_mean_8w] = state.dowMean[cal[0] as number] as number;
        row[FEATURE_INDEX.dow_0 + (cal[0] as number)] = 1;
        row[FEATURE_INDEX.month_sin] = cal[1] as number;
        row[FEATURE_INDEX.month_cos] = cal[2] as number;
        row[FEATURE_INDEX.holiday] = cal[3] as number;
        row[FEATURE_INDEX.pre_holiday] = cal[4] as number;
        row[FEATURE_INDEX.post_holiday] = cal[5] as number;
        row[BUCKET_OFFSET + bucketOf(h)] = 1;
        scale[n] = state.scale;
        y[n] = t < nDays ? (s.units[t] as number) : Number.NaN;
        series[n] = si;
        step[n] = h;
        origin[n] = o;
        n++;
      }
    }
  }
  return {
    n,
    x: x.subarray(0, n * N_FEATURES),
    scale: scale.subarray(0, n),
    y: y.subarray(0, n),
    series: series.subarray(0, n),
    step: step.subarray(0, n),
    origin: origin.subarray(0, n),
  };
}
