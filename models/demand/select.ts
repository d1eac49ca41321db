/**
 * Model choice by rolling-origin validation, inside the data before a cutoff (the holdout start in a
 * retraining run, the test split in the evaluation CLI): never on the data after it.
 *
 * Fold origins are cutoff − k·Hv (k = 1…folds, Hv the validation horizon), each scored on its next
 * Hv days; a fold needs Hv days of targets after the first day with enough history, else it is
 * dropped. In each fold every simple baseline forecasts from the fold origin, and the global model is
 * trained on the rows whose targets end before the fold origin (origins every `originStep` days),
 * then forecasts. Pooled over the folds, the candidate with the lowest WAPE is chosen; every
 * candidate's 80 % interval is calibrated on its own pooled validation residuals (./model.ts). The
 * chosen candidate is then refitted on every target before the cutoff (baselines have nothing to fit).
 */
import { forecastMetrics, type ForecastMetrics, type ForecastPoint } from './metrics';
import { BASELINES, type BaselineName } from './baselines';
import { HolidayCalendar, parseMarkets } from './calendar';
import { buildRows, N_FEATURES, type Rows, type SeriesSet } from './features';
import {
  baselineModel,
  type Conformal,
  conformalOffsets,
  DEFAULT_FIT,
  fitQuantileModel,
  type LinearQuantileModel,
  predictScaled,
  predictUnits,
  withConformal,
} from './model';

export const GLOBAL = 'global_linear_quantile';
export type CandidateName = BaselineName | typeof GLOBAL;

export interface DemandOptions {
  /** Days forecast by the served model (and the longest step the global model is trained on). */
  horizon: number;
  /** Days of each validation fold (default: the horizon). */
  validationHorizon?: number;
  folds: number;
  minHistoryDays: number;
  /** Comma-separated markets of the holiday calendar (CN, UK, US). */
  markets: string;
  /** Epochs of the global model (0 leaves it out). */
  epochs: number;
  /** Days between training origins of the global model (default: as many origins as fit in 60). */
  originStep?: number;
  seed: number;
}

export const DEFAULT_DEMAND_OPTIONS: DemandOptions = { horizon: 28, folds: 3, minHistoryDays: 14, markets: 'CN,UK,US', epochs: 6, seed: 7 };

export interface CandidateFit {
  name: CandidateName;
  /** Calibrated, fitted on every target before the cutoff. */
  model: LinearQuantileModel;
  conformal: Conformal;
  validation: ForecastMetrics;
  /** Seconds to fit (global: the fold fits and the final fit). */
  trainSeconds: number;
}

export interface Selection {
  chosen: CandidateName;
  /** The simple baseline with the lowest validation WAPE. */
  bestBaseline: BaselineName;
  candidates: CandidateFit[];
  foldOrigins: number[];
  validationRows: number;
  /** Why the global model is not among the candidates, when it is not. */
  skipped?: string;
  seconds: number;
}

/** The training origins for targets before `before`: every `step` days back from before − 1, not earlier than minHistoryDays. */
export function trainingOrigins(before: number, minHistoryDays: number, step: number): number[] {
  const out: number[] = [];
  for (let o = before - 1; o >= minHistoryDays; o -= step) out.push(o);
  return out.reverse();
}

export function autoStep(before: number, minHistoryDays: number, options: Pick<DemandOptions, 'originStep'>): number {
  return options.originStep ?? Math.max(1, Math.ceil((before - minHistoryDays) / 60));
}

export function fitGlobal(set: SeriesSet, calendar: HolidayCalendar, before: number, options: DemandOptions): { model: LinearQuantileModel; rows: number } {
  const step = autoStep(before, options.minHistoryDays, options);
  const rows = buildRows(set, calendar, {
    origins: trainingOrigins(before, options.minHistoryDays, step),
    horizon: options.horizon,
    minHistoryDays: options.minHistoryDays,
    targetsBefore: before,
  });
  return { model: fitQuantileModel(rows, { ...DEFAULT_FIT, epochs: options.epochs, seed: options.seed }), rows: rows.n };
}

/** Points (target, quantiles) of a model on rows with known targets. */
export function pointsOf(rows: Rows, quantiles: Float64Array): ForecastPoint[] {
  const out: ForecastPoint[] = [];
  for (let r = 0; r < rows.n; r++) {
    const y = rows.y[r] as number;
    if (!Number.isFinite(y)) continue;
    out.push({
      series: rows.series[r] as number,
      y,
      q10: quantiles[r * 3] as number,
      q50: quantiles[r * 3 + 1] as number,
      q90: quantiles[r * 3 + 2] as number,
    });
  }
  return out;
}

export function concatRows(parts: readonly Rows[]): Rows {
  const n = parts.reduce((a, p) => a + p.n, 0);
  const out: Rows = {
    n,
    x: new Float32Array(n * N_FEATURES),
    scale: new Float32Array(n),
    y: new Float64Array(n),
    series: new Int32Array(n),
    step: new Int32Array(n),
    origin: new Int32Array(n),
  };
  let at = 0;
  for (const p of parts) {
    out.x.set(p.x, at * N_FEATURES);
    out.scale.set(p.scale, at);
    out.y.set(p.y, at);
    out.series.set(p.series, at);
    out.step.set(p.step, at);
    out.origin.set(p.origin, at);
    at += p.n;
  }
  return out;
}

function concatF64(parts: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function calendarOf(options: Pick<DemandOptions, 'markets'>): HolidayCalendar {
  return new HolidayCalendar(parseMarkets(options.markets));
}

/** Chooses among the baselines and the global model on rolling-origin validation before `cutoff`, and fits every candidate up to it. */
export function selectDemandModel(set: SeriesSet, cutoff: number, options: DemandOptions): Selection {
  const started = performance.now();
  const calendar = calendarOf(options);
  const hv = options.validationHorizon ?? options.horizon;
  const foldOrigins: number[] = [];
  for (let k = 1; k <= options.folds; k++) {
    const o = cutoff - k * hv;
    if (o - options.minHistoryDays >= hv) foldOrigins.push(o);
  }
  foldOrigins.reverse();
  if (!foldOrigins.length)
    throw new Error(
      `not enough days before the cutoff for one validation fold: ${cutoff} days, at least ${options.minHistoryDays + 2 * hv} needed (min history ${options.minHistoryDays} + 2 × ${hv})`,
    );
  const foldRows = foldOrigins.map((o) =>
    buildRows(set, calendar, { origins: [o], horizon: hv, minHistoryDays: options.minHistoryDays, targetsBefore: cutoff }),
  );
  const validationRows = concatRows(foldRows);
  if (validationRows.n === 0) throw new Error('no item has enough history before the validation folds');
  const raw = new Map<CandidateName, Float64Array>();
  const seconds = new Map<CandidateName, number>();
  for (const name of BASELINES) raw.set(name, predictScaled(baselineModel(name), validationRows));
  let skipped: string | undefined;
  if (options.epochs > 0) {
    const t0 = performance.now();
    const parts: Float64Array[] = [];
    for (const [k, o] of foldOrigins.entries()) {
      const { model, rows } = fitGlobal(set, calendar, o, options);
      if (rows < 50) {
        skipped = `only ${rows} training rows before the validation fold at day ${o}`;
        break;
      }
      parts.push(predictScaled(model, foldRows[k] as Rows));
    }
    if (!skipped) {
      raw.set(GLOBAL, concatF64(parts));
      seconds.set(GLOBAL, (performance.now() - t0) / 1000);
    }
  } else skipped = 'epochs = 0';
  const candidates: CandidateFit[] = [];
  for (const [name, pred] of raw) {
    const conformal = conformalOffsets(validationRows, pred);
    const t0 = performance.now();
    const base = name === GLOBAL ? fitGlobal(set, calendar, cutoff, options).model : baselineModel(name);
    const calibratedValidation = calibratedUnits(pred, validationRows, conformal);
    candidates.push({
      name,
      model: withConformal(base, conformal),
      conformal,
      validation: forecastMetrics(pointsOf(validationRows, calibratedValidation)),
      trainSeconds: (seconds.get(name) ?? 0) + (performance.now() - t0) / 1000,
    });
  }
  const byWape = [...candidates].sort((a, b) => a.validation.WAPE - b.validation.WAPE);
  const bestBaseline = byWape.find((c) => c.name !== GLOBAL)?.name as BaselineName;
  return {
    chosen: (byWape[0] as CandidateFit).name,
    bestBaseline,
    candidates,
    foldOrigins,
    validationRows: validationRows.n,
    ...(skipped ? { skipped } : {}),
    seconds: (performance.now() - started) / 1000,
  };
}

/** Units of raw scaled predictions with the conformal offsets applied (what the calibrated graph gives). */
function calibratedUnits(raw: Float64Array, rows: Rows, conformal: Conformal): Float64Array {
  const out = new Float64Array(rows.n * 3);
  for (let r = 0; r < rows.n; r++) {
    const b = Math.min(3, Math.floor(((rows.step[r] as number) - 1) / 7));
    const s = rows.scale[r] as number;
    out[r * 3] = Math.max(0, ((raw[r * 3] as number) + (conformal.lower[b] as number)) * s);
    out[r * 3 + 1] = Math.max(0, (raw[r * 3 + 1] as number) * s);
    out[r * 3 + 2] = Math.max(0, ((raw[r * 3 + 2] as number) + (conformal.upper[b] as number)) * s);
  }
  return out;
}

/** The rows of a forecast from `origin` (targets known where the data has them). */
export function forecastRows(set: SeriesSet, origin: number, horizon: number, options: Pick<DemandOptions, 'markets' | 'minHistoryDays'>): Rows {
  return buildRows(set, calendarOf(options), { origins: [origin], horizon, minHistoryDays: options.minHistoryDays });
}

export { predictUnits };
