/**
 * The heavy half of the `demand` family (./family.ts is the descriptor): trains a candidate from the
 * snapshot's item daily table, scores it through onnxruntime on the holdout days against the best
 * simple baseline and the champion, and checks artifacts against the serving contract.
 *
 * Artifacts of a version: `eval/model.onnx` (chosen and fitted on the days before the holdout),
 * `model.onnx` (the same choice refitted on the whole window, with the validation's conformal
 * offsets), `features.json` / `eval/features.json` (feature layout, markets, choice, offsets) and
 * `forecast.json` (the served model's quantiles for the next `horizon` days of every item with
 * history, from the day after the snapshot).
 */
import * as ort from 'onnxruntime-node';
import type { EvaluateContext, FamilyScores, FamilyTrainer, TrainContext, TrainedCard } from '../../shared/families/contract';
import { createSession, describeSession } from '../../shared/onnx/session';
import type { ModelRegistry } from '../../shared/registry/registry';
import { DAY_MS, type ItemDaily, loadSnapshotTables, type SnapshotManifest } from '../../shared/snapshots/snapshot';
import type { BlobStore } from '../../shared/storage/blob';
import { forecastMetrics, type ForecastMetrics, naiveScale } from './metrics';
import { FEATURE_VERSION, FEATURES, makeSeries, N_FEATURES, type Rows, type SeriesSet, buildRows } from './features';
import { DEMAND, DEMAND_DEFAULTS, demandMarkets } from './family';
import { type Conformal, exportOnnx, QUANTILES, withConformal } from './model';
import { calendarOf, type DemandOptions, DEFAULT_DEMAND_OPTIONS, fitGlobal, GLOBAL, pointsOf, selectDemandModel } from './select';

export const CODE_VERSION = 'demand-selected@1';

/** features.json: what a demand artifact needs to be fed. */
export interface DemandArtifactInfo {
  featureVersion: string;
  features: string[];
  quantiles: number[];
  markets: string;
  minHistoryDays: number;
  horizon: number;
  chosen: string;
  conformal: Conformal;
}

/** The item daily table as one series per item (channels summed; price = revenue ÷ priced units). */
export function seriesFromItemDaily(daily: ItemDaily): SeriesSet {
  const index = new Map(daily.days.map((d, k) => [d, k]));
  const units = new Map<string, Float64Array>();
  const revenue = new Map<string, Float64Array>();
  const pricedUnits = new Map<string, Float64Array>();
  const get = (m: Map<string, Float64Array>, item: string) => {
    let a = m.get(item);
    if (!a) {
      a = new Float64Array(daily.days.length);
      m.set(item, a);
    }
    return a;
  };
  for (const row of daily.rows) {
    const k = index.get(row.d);
    if (k === undefined || !(row.u > 0)) continue;
    const u = get(units, row.i);
    u[k] = (u[k] as number) + row.u;
    if (row.p !== undefined && row.r > 0) {
      const r = get(revenue, row.i);
      r[k] = (r[k] as number) + row.r;
      const pu = get(pricedUnits, row.i);
      pu[k] = (pu[k] as number) + row.r / row.p;
    }
  }
  const series = [...units.keys()].sort().map((item) => {
    const price = new Float64Array(daily.days.length).fill(Number.NaN);
    const r = revenue.get(item);
    const pu = pricedUnits.get(item);
    if (r && pu) for (let k = 0; k < price.length; k++) if ((pu[k] as number) > 0) price[k] = (r[k] as number) / (pu[k] as number);
    return makeSeries(item, units.get(item) as Float64Array, price);
  });
  return { days: daily.days, series };
}

/** Where the holdout starts (first forecast day) and ends (exclusive: the asOf day counts only when it is complete). */
export function holdoutWindow(manifest: SnapshotManifest, days: readonly string[]): { cutoff: number; end: number; days: number } {
  const first = Date.parse(`${days[0]}T00:00:00Z`);
  const cutoff = Math.floor((Date.parse(manifest.holdoutStart) - first) / DAY_MS);
  const asOf = Date.parse(manifest.asOf);
  const asOfDay = Math.floor((asOf - first) / DAY_MS);
  const complete = asOf - (first + asOfDay * DAY_MS) >= DAY_MS - 1000;
  const end = Math.min(days.length, asOfDay + (complete ? 1 : 0));
  return { cutoff, end, days: Math.max(0, end - cutoff) };
}

export function demandOptions(hyperparameters: Record<string, unknown>, validationHorizon: number): DemandOptions {
  const h = hyperparameters;
  return {
    ...DEFAULT_DEMAND_OPTIONS,
    horizon: Number(h.horizon ?? DEMAND_DEFAULTS.horizon),
    folds: Number(h.folds ?? DEMAND_DEFAULTS.folds),
    minHistoryDays: Number(h.minHistoryDays ?? DEMAND_DEFAULTS.minHistoryDays),
    epochs: Number(h.epochs ?? DEMAND_DEFAULTS.epochs),
    markets: demandMarkets(h),
    validationHorizon,
  };
}

async function loadSeries(blobs: BlobStore, manifest: SnapshotManifest) {
  const { itemDaily } = await loadSnapshotTables(blobs, manifest, ['itemDaily']);
  const set = seriesFromItemDaily(itemDaily);
  return { set, rows: itemDaily.rows.length, window: holdoutWindow(manifest, itemDaily.days) };
}

async function runOnnx(bytes: Uint8Array, rows: Rows): Promise<Float32Array> {
  const session = await createSession(bytes);
  try {
    if (rows.n === 0) return new Float32Array(0);
    const out = await session.run({
      features: new ort.Tensor('float32', rows.x, [rows.n, N_FEATURES]),
      scale: new ort.Tensor('float32', rows.scale, [rows.n, 1]),
    });
    return out.quantiles?.data as Float32Array;
  } finally {
    await session.release();
  }
}

export async function trainDemandCandidate({ blobs, registry, run, compute, now }: TrainContext): Promise<TrainedCard> {
  const manifest = run.snapshot;
  const version = run.candidateVersion;
  const done = await registry.getCard(DEMAND, version);
  if (done) return done;
  const started = performance.now();
  const { set, rows: itemDayRows, window } = await loadSeries(blobs, manifest);
  if (window.days < 1) throw new Error(`the holdout of snapshot ${manifest.runId} has no complete day to evaluate on`);
  const options = demandOptions(run.hyperparameters, window.days);
  const minItems = Number(run.hyperparameters.minItems ?? DEMAND_DEFAULTS.minItems);
  const withHistory = set.series.filter((s) => s.start <= window.cutoff - options.minHistoryDays).length;
  if (withHistory < minItems)
    throw new Error(`only ${withHistory} items sold at least ${options.minHistoryDays} days before the holdout, at least ${minItems} needed`);
  const selection = selectDemandModel(set, window.cutoff, options);
  const chosen = selection.candidates.find((c) => c.name === selection.chosen)!;
  const info = (chosenName: string): DemandArtifactInfo => ({
    featureVersion: FEATURE_VERSION,
    features: [...FEATURES],
    quantiles: [...QUANTILES],
    markets: options.markets,
    minHistoryDays: options.minHistoryDays,
    horizon: options.horizon,
    chosen: chosenName,
    conformal: chosen.conformal,
  });
  const meta = { feature_version: FEATURE_VERSION, chosen: selection.chosen, markets: options.markets };
  const evalOnnx = exportOnnx(chosen.model, meta);
  // Served: the same choice on the whole window (a baseline has nothing to refit), with the validation's offsets.
  const end = set.days.length;
  const served = selection.chosen === GLOBAL ? withConformal(fitGlobal(set, calendarOf(options), end, options).model, chosen.conformal) : chosen.model;
  const servedOnnx = exportOnnx(served, meta);
  const forecastRowsAll = buildRows(set, calendarOf(options), { origins: [end], horizon: options.horizon, minHistoryDays: options.minHistoryDays });
  const q = await runOnnx(servedOnnx, forecastRowsAll);
  const firstDay = Date.parse(`${set.days[0]}T00:00:00Z`);
  const forecast: Record<string, { q10: number[]; q50: number[]; q90: number[] }> = {};
  for (let r = 0; r < forecastRowsAll.n; r++) {
    const item = set.series[forecastRowsAll.series[r] as number]!.item;
    const f = forecast[item] ?? { q10: [], q50: [], q90: [] };
    forecast[item] = f;
    f.q10.push(Number((q[r * 3] as number).toFixed(3)));
    f.q50.push(Number((q[r * 3 + 1] as number).toFixed(3)));
    f.q90.push(Number((q[r * 3 + 2] as number).toFixed(3)));
  }
  const session = await createSession(servedOnnx);
  let signature: ReturnType<typeof describeSession>;
  try {
    signature = describeSession(session);
  } finally {
    await session.release();
  }
  await registry.putArtifact(DEMAND, version, 'eval/model.onnx', evalOnnx);
  await registry.putArtifact(DEMAND, version, 'eval/features.json', info(selection.chosen));
  await registry.putArtifact(DEMAND, version, 'model.onnx', servedOnnx);
  await registry.putArtifact(DEMAND, version, 'features.json', info(selection.chosen));
  await registry.putArtifact(DEMAND, version, 'forecast.json', {
    from: new Date(firstDay + end * DAY_MS).toISOString().slice(0, 10),
    horizon: options.horizon,
    quantiles: [...QUANTILES],
    items: forecast,
  });
  const championAlias = await registry.getAlias(DEMAND, 'champion');
  const card: TrainedCard & { selection: Record<string, unknown> } = {
    family: DEMAND,
    version,
    createdAt: now.toISOString(),
    algorithm: `${selection.chosen}, chosen on rolling-origin validation WAPE (${selection.foldOrigins.length} folds × ${window.days} days); 80 % intervals conformal per horizon week`,
    hyperparameters: {
      horizon: options.horizon,
      folds: options.folds,
      minHistoryDays: options.minHistoryDays,
      epochs: options.epochs,
      markets: options.markets,
      minItems,
    },
    signature: {
      inputs: signature.inputs.map((v) => ({ name: v.name, type: v.type ?? 'unknown', shape: v.shape ?? [] })),
      outputs: signature.outputs.map((v) => ({ name: v.name, type: v.type ?? 'unknown', shape: v.shape ?? [] })),
    },
    data: {
      snapshot: manifest.runId,
      asOf: manifest.asOf,
      holdoutStart: manifest.holdoutStart,
      users: manifest.counts.users,
      items: set.series.length,
      interactions: itemDayRows,
      from: set.days[0] as string,
    },
    trainingSeconds: Number(((performance.now() - started) / 1000).toFixed(3)),
    ...(championAlias ? { parentVersion: championAlias.version } : {}),
    codeVersion: CODE_VERSION,
    source: { kind: 'trained' },
    compute,
    selection: {
      chosen: selection.chosen,
      bestBaseline: selection.bestBaseline,
      folds: selection.foldOrigins.map((o) => set.days[o]),
      validationItemDays: selection.validationRows,
      validation: selection.candidates
        .map((c) => ({ name: c.name, WAPE: Number(c.validation.WAPE.toFixed(6)), coverage80: Number(c.validation.coverage80.toFixed(4)) }))
        .sort((a, b) => a.WAPE - b.WAPE),
      ...(selection.skipped ? { skipped: selection.skipped } : {}),
      seconds: Number(selection.seconds.toFixed(3)),
    },
  };
  await registry.putCard(card);
  return card;
}

const metricsOf = (rows: Rows, q: ArrayLike<number>, scales: ArrayLike<number>): ForecastMetrics =>
  forecastMetrics(pointsOf(rows, Float64Array.from(q)), scales);

async function championScores(
  registry: ModelRegistry,
  run: EvaluateContext['run'],
  rowsFor: (markets: string) => Rows,
  scales: ArrayLike<number>,
): Promise<Pick<FamilyScores, 'champion' | 'championNotComparable'>> {
  const alias = await registry.getAlias(DEMAND, 'champion');
  if (!alias || alias.version === run.candidateVersion) return {};
  const card = await registry.getCard(DEMAND, alias.version);
  if (!card) return { championNotComparable: `champion ${alias.version} has no model card` };
  const holdoutStart = Date.parse(run.snapshot.holdoutStart);
  const artifact = Date.parse(card.data.asOf) <= holdoutStart ? 'serving' : Date.parse(card.data.holdoutStart) <= holdoutStart ? 'eval' : undefined;
  if (!artifact) return { championNotComparable: `champion ${alias.version} was trained on data after this holdout's start ${run.snapshot.holdoutStart}` };
  const prefix = artifact === 'eval' ? 'eval/' : '';
  const [bytes, info] = await Promise.all([
    registry.getModelBytes(DEMAND, alias.version, `${prefix}model.onnx`),
    registry.getJson<DemandArtifactInfo>(DEMAND, alias.version, `${prefix}features.json`),
  ]);
  if (!bytes || !info) return { championNotComparable: `champion ${alias.version} has no ${artifact} artifact` };
  if (info.featureVersion !== FEATURE_VERSION)
    return { championNotComparable: `champion ${alias.version} reads features ${info.featureVersion}, this run builds ${FEATURE_VERSION}` };
  const rows = rowsFor(info.markets);
  return { champion: { version: alias.version, artifact, metrics: metricsOf(rows, await runOnnx(bytes, rows), scales) } };
}

/**
 * Scores the candidate's evaluation artifact (through onnxruntime), the best simple baseline (the
 * baselines calibrated on the same validation folds, the best on the holdout: the candidate must beat
 * every one of them) and the champion on the same holdout item-days.
 */
export async function evaluateDemandCandidate({ blobs, registry, run }: EvaluateContext): Promise<FamilyScores> {
  const manifest = run.snapshot;
  const { set, window } = await loadSeries(blobs, manifest);
  const info = await registry.getJson<DemandArtifactInfo>(DEMAND, run.candidateVersion, 'eval/features.json');
  const bytes = await registry.getModelBytes(DEMAND, run.candidateVersion, 'eval/model.onnx');
  if (!bytes || !info) throw new Error(`candidate ${DEMAND}/${run.candidateVersion} is incomplete in the registry (eval/model.onnx, eval/features.json)`);
  const options = { ...demandOptions(run.hyperparameters, window.days), markets: info.markets, minHistoryDays: info.minHistoryDays };
  const rowsFor = (markets: string) =>
    buildRows(set, calendarOf({ markets }), {
      origins: [window.cutoff],
      horizon: window.days,
      minHistoryDays: options.minHistoryDays,
      targetsBefore: window.end,
    });
  const rows = rowsFor(options.markets);
  const scales = set.series.map((s) => naiveScale(s.units, s.start, window.cutoff));
  const metrics = metricsOf(rows, await runOnnx(bytes, rows), scales);
  // The baselines go through the same float32 graph as the candidate: a candidate that IS a baseline ties with it, never beats it by rounding.
  const baselines = await Promise.all(
    selectDemandModel(set, window.cutoff, { ...options, epochs: 0 }).candidates.map(async (c) => ({
      name: c.name,
      metrics: metricsOf(rows, await runOnnx(exportOnnx(c.model), rows), scales),
    })),
  );
  const best = baselines.sort((a, b) => a.metrics.WAPE - b.metrics.WAPE)[0]!;
  return {
    metrics,
    baseline: best.metrics,
    ...(await championScores(registry, run, rowsFor, scales)),
    cases: rows.n,
  };
}

export const trainer: FamilyTrainer = {
  train: trainDemandCandidate,
  evaluate: evaluateDemandCandidate,
  async checkArtifact(model) {
    const reasons: string[] = [];
    let session: ort.InferenceSession | undefined;
    try {
      session = await createSession(model);
      const inputs = session.inputNames;
      if (inputs.join(',') !== 'features,scale')
        reasons.push(`inputs must be 'features' float32 [N, ${N_FEATURES}] and 'scale' float32 [N, 1], got ${inputs.join(', ')}`);
      if (!session.outputNames.includes('quantiles')) reasons.push(`output 'quantiles' float32 [N, 3] missing (got ${session.outputNames.join(', ')})`);
      if (!reasons.length) {
        const n = 2;
        const x = new Float32Array(n * N_FEATURES).fill(0.5);
        const out = await session.run({
          features: new ort.Tensor('float32', x, [n, N_FEATURES]),
          scale: new ort.Tensor('float32', Float32Array.of(1, 3), [n, 1]),
        });
        const q = out.quantiles;
        if (q?.type !== 'float32' || q.dims.join(',') !== `${n},3`)
          reasons.push(`output 'quantiles' must be float32 [${n}, 3] for ${n} rows, got ${q?.type} [${q?.dims.join(', ')}]`);
        else if (![...(q.data as Float32Array)].every((v) => Number.isFinite(v) && v >= 0)) reasons.push("output 'quantiles' must be finite and ≥ 0");
      }
    } catch (error) {
      reasons.push((error as Error).message);
    } finally {
      await session?.release();
    }
    return reasons.length ? { ok: false, reasons } : { ok: true };
  },
};
