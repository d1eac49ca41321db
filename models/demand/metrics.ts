/**
 * Forecast accuracy over item-days (the demand family and `npm run evaluate -- forecast`):
 *
 * - WAPE = Σ|y − q0.5| / Σy (the main metric: lower is better);
 * - MAE = mean |y − q0.5| per item-day (units); on the same cases it moves with WAPE;
 * - MASE = mean over items of (their MAE ÷ their in-sample seasonal-naive-7 MAE) (items whose history
 *   never changes week on week are left out of it);
 * - bias = Σ(q0.5 − y) / Σy (negative: under-forecast), absBias = |bias|;
 * - wQL50, wQL90 = 2 Σ pinball_τ(y, q_τ) / Σy (Amazon Forecast's weighted quantile loss; wQL50 = WAPE);
 * - coverage80 = share of item-days with q0.1 ≤ y ≤ q0.9; coverageError80 = |coverage80 − 0.8|.
 */
export interface ForecastPoint {
  /** which series (item) */
  series: number;
  y: number;
  q10: number;
  q50: number;
  q90: number;
}

export interface ForecastMetrics {
  WAPE: number;
  MAE: number;
  MASE: number;
  bias: number;
  absBias: number;
  wQL50: number;
  wQL90: number;
  coverage80: number;
  coverageError80: number;
  count: number;
  [metric: string]: number;
}

const pinball = (tau: number, y: number, q: number) => (y >= q ? tau * (y - q) : (1 - tau) * (q - y));

/** Metrics of a forecast; `maseScale[series]` is the item's in-sample seasonal-naive MAE (see naiveScale). */
export function forecastMetrics(points: readonly ForecastPoint[], maseScale?: ArrayLike<number>): ForecastMetrics {
  let sumY = 0;
  let sumAbs = 0;
  let sumErr = 0;
  let ql50 = 0;
  let ql90 = 0;
  let covered = 0;
  const perSeries = new Map<number, { abs: number; n: number }>();
  for (const p of points) {
    sumY += p.y;
    const e = p.q50 - p.y;
    sumAbs += Math.abs(e);
    sumErr += e;
    ql50 += pinball(0.5, p.y, p.q50);
    ql90 += pinball(0.9, p.y, p.q90);
    if (p.y >= p.q10 - 1e-6 && p.y <= p.q90 + 1e-6) covered++;
    const s = perSeries.get(p.series) ?? { abs: 0, n: 0 };
    s.abs += Math.abs(e);
    s.n++;
    perSeries.set(p.series, s);
  }
  let maseSum = 0;
  let maseN = 0;
  if (maseScale)
    for (const [series, s] of perSeries) {
      const scale = maseScale[series] as number;
      if (scale > 0) {
        maseSum += s.abs / s.n / scale;
        maseN++;
      }
    }
  const n = points.length;
  const denom = sumY > 0 ? sumY : Number.NaN;
  const coverage = n ? covered / n : Number.NaN;
  return {
    WAPE: sumAbs / denom,
    MAE: n ? sumAbs / n : Number.NaN,
    MASE: maseN ? maseSum / maseN : Number.NaN,
    bias: sumErr / denom,
    absBias: Math.abs(sumErr / denom),
    wQL50: (2 * ql50) / denom,
    wQL90: (2 * ql90) / denom,
    coverage80: coverage,
    coverageError80: Math.abs(coverage - 0.8),
    count: n,
  };
}

/** In-sample MAE of the seasonal naive (lag `season`) over history[from..to): MASE's denominator. */
export function naiveScale(history: ArrayLike<number>, from: number, to: number, season = 7): number {
  let sum = 0;
  let n = 0;
  for (let k = Math.max(from + season, season); k < to; k++) {
    sum += Math.abs((history[k] as number) - (history[k - season] as number));
    n++;
  }
  return n ? sum / n : 0;
}
