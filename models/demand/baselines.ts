/**
 * The simple forecasters every demand run measures (and the global model reads as features): each
 * maps an item's daily history (oldest first, zero-sale days as 0) to a point forecast per horizon
 * step. Pure functions; hand-checked values in test/unit/models/demand/baselines.test.ts.
 *
 * - seasonal naive (7): the same weekday last week;
 * - moving mean / median of the last 28 days;
 * - simple exponential smoothing (level only, α = 0.1 by default, started at the first value);
 * - Croston (1972): exponential smoothing of the non-zero demand sizes z and of the intervals p
 *   between them, forecast z / p; SBA (Syntetos–Boylan) multiplies it by 1 − α/2 to remove its bias;
 * - TSB (Teunter–Syntetos–Babai 2011): smooths the demand probability every day (so obsolescence
 *   pulls the forecast down) and the size on demand days, forecast probability × size.
 */

export const BASELINES = ['seasonal_naive_7', 'mean_28', 'median_28', 'ses', 'croston', 'sba', 'tsb'] as const;
export type BaselineName = (typeof BASELINES)[number];

/** Point forecast of the next `horizon` days after `history`. */
export type PointForecaster = (history: ArrayLike<number>, horizon: number) => number[];

function tail(history: ArrayLike<number>, n: number): number[] {
  const out: number[] = [];
  for (let k = Math.max(0, history.length - n); k < history.length; k++) out.push(history[k] as number);
  return out;
}

export function mean(values: readonly number[]): number {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0;
}

export function median(values: readonly number[]): number {
  if (!values.length) return 0;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** The same weekday of the last season (a shorter history repeats what there is; none: 0). */
export function seasonalNaive(history: ArrayLike<number>, horizon: number, season = 7): number[] {
  const n = history.length;
  if (n === 0) return new Array<number>(horizon).fill(0);
  const s = Math.min(season, n);
  return Array.from({ length: horizon }, (_, h) => history[n - s + (h % s)] as number);
}

export const movingMean = (history: ArrayLike<number>, horizon: number, window = 28) => new Array<number>(horizon).fill(mean(tail(history, window)));
export const movingMedian = (history: ArrayLike<number>, horizon: number, window = 28) => new Array<number>(horizon).fill(median(tail(history, window)));

/** Level of simple exponential smoothing after the whole history. */
export function sesLevel(history: ArrayLike<number>, alpha = 0.1): number {
  if (history.length === 0) return 0;
  let level = history[0] as number;
  for (let k = 1; k < history.length; k++) level += alpha * ((history[k] as number) - level);
  return level;
}

export const ses = (history: ArrayLike<number>, horizon: number, alpha = 0.1) => new Array<number>(horizon).fill(sesLevel(history, alpha));

/**
 * Croston's size and interval estimates after the history: both start at the first demand (the
 * interval counted from the start of the history), then are smoothed at each later demand.
 * `undefined` when the history has no demand at all.
 */
export function crostonState(history: ArrayLike<number>, alpha = 0.1): { size: number; interval: number } | undefined {
  let size: number | undefined;
  let interval = 0;
  let since = 0;
  for (let k = 0; k < history.length; k++) {
    since++;
    const y = history[k] as number;
    if (y <= 0) continue;
    if (size === undefined) {
      size = y;
      interval = since;
    } else {
      size += alpha * (y - size);
      interval += alpha * (since - interval);
    }
    since = 0;
  }
  return size === undefined ? undefined : { size, interval };
}

export function crostonLevel(history: ArrayLike<number>, alpha = 0.1, sba = false): number {
  const state = crostonState(history, alpha);
  if (!state) return 0;
  return (state.size / state.interval) * (sba ? 1 - alpha / 2 : 1);
}

export const croston = (history: ArrayLike<number>, horizon: number, alpha = 0.1) => new Array<number>(horizon).fill(crostonLevel(history, alpha));
export const sba = (history: ArrayLike<number>, horizon: number, alpha = 0.1) => new Array<number>(horizon).fill(crostonLevel(history, alpha, true));

/** TSB: probability smoothed every day (α_p), size on demand days (α_z); both start at the first day / first demand. */
export function tsbLevel(history: ArrayLike<number>, alphaP = 0.1, alphaZ = 0.1): number {
  let size: number | undefined;
  let prob: number | undefined;
  for (let k = 0; k < history.length; k++) {
    const y = history[k] as number;
    const d = y > 0 ? 1 : 0;
    prob = prob === undefined ? d : prob + alphaP * (d - prob);
    if (y > 0) size = size === undefined ? y : size + alphaZ * (y - size);
  }
  return size === undefined || prob === undefined ? 0 : prob * size;
}

export const tsb = (history: ArrayLike<number>, horizon: number, alpha = 0.1) => new Array<number>(horizon).fill(tsbLevel(history, alpha, alpha));

export const BASELINE_FORECASTERS: Readonly<Record<BaselineName, PointForecaster>> = {
  seasonal_naive_7: (h, n) => seasonalNaive(h, n, 7),
  mean_28: (h, n) => movingMean(h, n, 28),
  median_28: (h, n) => movingMedian(h, n, 28),
  ses: (h, n) => ses(h, n),
  croston: (h, n) => croston(h, n),
  sba: (h, n) => sba(h, n),
  tsb: (h, n) => tsb(h, n),
};
