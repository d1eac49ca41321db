/**
 * The offline evaluation runner: every candidate and baseline on the same split, in one process.
 *
 *   1. Selection (validation stage only). Every variant of a model (its hyperparameter grid) is trained on
 *      split.validation.train and scored on the validation cases; the best by split.selectionMetric wins.
 *      A blend then takes the chosen variants of its components and searches their weights on the same
 *      validation cases (coordinate ascent, see selectBlend).
 *   2. Test. Each chosen model is trained once on split.test.train (or, with refit = false, the validation
 *      models are reused) and every test case is ranked once.
 * The test cases are read in step 2 only: nothing about them can influence a choice.
 */
import { blendCandidate } from '../recommender/blend';
import { forgetMemo } from '../recommender/train-data';
import type { Candidate, TrainedCandidate } from './candidate';
import { type Exclusion, MetricAccumulator, type MetricSummary, rankOf, topK } from './metrics';
import { type EvalCase, type EvalSplit, sampleGroups } from './protocols';

export interface ModelSpec {
  name: string;
  /** Hyperparameter grid. Variants that share a trained matrix (same key in memoByData) train it once. */
  variants: Candidate[];
}

export interface BlendSpec {
  name: string;
  /** Names of the ModelSpecs whose selected variants are blended. */
  components: string[];
}

export type EntrySpec = ModelSpec | BlendSpec;

function isBlend(spec: EntrySpec): spec is BlendSpec {
  return 'components' in spec;
}

export interface RunOptions {
  ks?: number[];
  /** K of catalogue coverage (share of items in any top-K list). */
  coverageK?: number;
  /** Test users / sessions evaluated (deterministic sample); all when absent. */
  maxUsers?: number;
  /** Validation users / sessions used for selection (default 10,000). */
  selectionUsers?: number;
  /** Train the chosen models again on the test stage's training data (default true). */
  refit?: boolean;
  /** Candidate items kept per model and case for the blend search (default 100). */
  blendTopM?: number;
  /** Best validation variants of each component the blend search may choose from (default 2). */
  blendAlternatives?: number;
  log?: (line: string) => void;
}

export interface ModelResult {
  name: string;
  metrics: MetricSummary;
  coverage: number;
  /** Training time of the model evaluated on the test cases (a blend: the sum of its components). */
  trainingSeconds: number;
  /** Time spent choosing it on the validation stage (training every variant + scoring). */
  selectionSeconds: number;
  /** Selection metric of the chosen variant on the validation cases. */
  validation: number;
  variantsTried: number;
  params: Record<string, number | string | boolean>;
  onnx: boolean;
}

export interface EvaluationReport {
  dataset: string;
  protocol: string;
  nItems: number;
  testCases: number;
  validationCases: number;
  selectionMetric: string;
  refit: boolean;
  ks: number[];
  coverageK: number;
  models: ModelResult[];
  notes: string[];
  seconds: number;
}

function metricK(metric: string): number {
  const k = Number(metric.split('@')[1]);
  if (!Number.isInteger(k) || k < 1) throw new Error(`runner: cannot read K from metric '${metric}'`);
  return k;
}

/** Reusable exclusion mask of a case's history (or none when the protocol keeps seen items). */
function exclusionFor(split: EvalSplit, mask: Uint8Array, history: Int32Array): Exclusion | undefined {
  if (!split.excludeSeen) return undefined;
  for (const item of history) if (item >= 0 && item < mask.length) mask[item] = 1;
  return mask;
}

function clearMask(mask: Uint8Array, history: Int32Array): void {
  for (const item of history) if (item >= 0 && item < mask.length) mask[item] = 0;
}

async function scoresOf(trained: TrainedCandidate, history: Int32Array, nItems: number): Promise<Float32Array> {
  const scores = await trained.score(history);
  if (scores.length !== nItems) throw new Error(`${trained.name}: score() returned ${scores.length} scores for ${nItems} items`);
  return scores;
}

/** Ranks every case's target; coverage = share of items appearing in any top-`coverageK` list. */
export async function evaluateTrained(
  trained: TrainedCandidate,
  split: EvalSplit,
  cases: readonly EvalCase[],
  ks: readonly number[],
  coverageK = 10,
): Promise<{ metrics: MetricSummary; coverage: number }> {
  const n = split.nItems;
  const mask = new Uint8Array(n);
  const covered = new Uint8Array(n);
  const metrics = new MetricAccumulator();
  for (const c of cases) {
    const scores = await scoresOf(trained, c.history, n);
    const exclude = exclusionFor(split, mask, c.history);
    metrics.add(c.target < 0 ? Number.POSITIVE_INFINITY : rankOf(scores, c.target, exclude));
    for (const i of topK(scores, coverageK, exclude)) covered[i] = 1;
    clearMask(mask, c.history);
  }
  let count = 0;
  for (const v of covered) count += v;
  return { metrics: metrics.summary(ks), coverage: n ? count / n : 0 };
}

interface Alternative {
  candidate: Candidate;
  /** Trained on the validation stage. */
  trained: TrainedCandidate;
  value: number;
}

interface Selected {
  candidate: Candidate;
  validation: number;
  selectionSeconds: number;
  variantsTried: number;
  /** The best variants on validation, best first (the blend search may pick any of them). */
  alternatives: Alternative[];
}

async function selectVariant(spec: ModelSpec, split: EvalSplit, cases: readonly EvalCase[], keep: number, log: (l: string) => void): Promise<Selected> {
  const started = performance.now();
  const metric = split.selectionMetric;
  const tried: Alternative[] = [];
  for (const candidate of spec.variants) {
    const trained = await candidate.train(split.validation.train);
    const { metrics } = await evaluateTrained(trained, split, cases, [metricK(metric)]);
    const value = metrics[metric] ?? 0;
    if (spec.variants.length > 1) log(`  ${spec.name} ${formatParams(trained.params)}: validation ${metric} ${value.toFixed(4)}`);
    tried.push({ candidate, trained, value });
  }
  // Stable: among equal values the earlier variant of the grid wins.
  const ranked = tried.map((t, order) => ({ t, order })).sort((a, b) => b.t.value - a.t.value || a.order - b.order);
  const best = ranked[0]?.t;
  if (!best) throw new Error(`runner: model '${spec.name}' has no variant`);
  return {
    candidate: best.candidate,
    validation: best.value,
    selectionSeconds: (performance.now() - started) / 1000,
    variantsTried: spec.variants.length,
    alternatives: ranked.slice(0, Math.max(1, keep)).map((r) => r.t),
  };
}

/** Per validation case: the union of every column's top-M items (and the target) with each column's scores. */
interface BlendCase {
  /** |U| × C column scores, row-major. */
  scores: Float32Array;
  size: number;
  /** Row of the target in `scores`, −1 when the target is unknown. */
  target: number;
}

const BLEND_GRID = [0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.4, 2, 3, 5, 10];

function blendMetric(cases: readonly BlendCase[], columnCount: number, weights: ReadonlyMap<number, number>, metric: string): number {
  const C = columnCount;
  const active = [...weights].filter(([, w]) => w !== 0);
  const acc = new MetricAccumulator();
  for (const c of cases) {
    if (c.target < 0) {
      acc.add(Number.POSITIVE_INFINITY);
      continue;
    }
    let t = 0;
    for (const [k, w] of active) t += w * c.scores[c.target * C + k]!;
    let ahead = 0;
    for (let u = 0; u < c.size; u++) {
      if (u === c.target) continue;
      let s = 0;
      for (const [k, w] of active) s += w * c.scores[u * C + k]!;
      if (s >= t) ahead++; // pessimistic ties, as rankOf
    }
    acc.add(ahead + 1);
  }
  return acc.summary([metricK(metric)])[metric] ?? 0;
}

/** Scores every validation case with every column (model) once; keeps the union of their top-M items. */
async function collectBlendCases(
  columns: readonly TrainedCandidate[],
  split: EvalSplit,
  cases: readonly EvalCase[],
  topM: number,
): Promise<{ blendCases: BlendCase[]; scale: number[] }> {
  const C = columns.length;
  const n = split.nItems;
  const mask = new Uint8Array(n);
  const row = new Int32Array(n).fill(-1);
  const topSum = new Float64Array(C);
  const blendCases: BlendCase[] = [];
  for (const c of cases) {
    const exclude = exclusionFor(split, mask, c.history);
    const all: Float32Array[] = [];
    const union: number[] = [];
    const add = (i: number) => {
      if (row[i] === -1) row[i] = union.push(i) - 1;
    };
    if (c.target >= 0) add(c.target);
    for (let k = 0; k < C; k++) {
      const s = await scoresOf(columns[k]!, c.history, n);
      all.push(s);
      const top = topK(s, topM, exclude);
      if (top.length > 0) topSum[k]! += s[top[0]!]!;
      for (const i of top) add(i);
    }
    const scores = new Float32Array(union.length * C);
    union.forEach((i, u) => {
      for (let k = 0; k < C; k++) scores[u * C + k] = all[k]![i]!;
      row[i] = -1;
    });
    blendCases.push({ scores, size: union.length, target: c.target >= 0 ? 0 : -1 });
    clearMask(mask, c.history);
  }
  // Mean top score of each column: weights are searched on scores divided by it.
  const scale = Array.from(topSum, (sum) => (sum > 0 ? cases.length / sum : 1));
  return { blendCases, scale };
}

/** One blend slot per component: which of its alternatives (column) and with which relative weight. */
interface SlotState {
  column: number;
  weight: number;
}

/**
 * Coordinate ascent: slot by slot, every (alternative, BLEND_GRID weight) pair is tried with the other slots
 * fixed (the anchor slot keeps weight 1 but may switch alternative); rounds repeat until none improves.
 */
function searchSlots(
  slots: readonly number[][],
  anchor: number,
  evaluate: (state: readonly SlotState[]) => number,
  onRound: (round: number, state: readonly SlotState[], value: number) => void,
): { state: SlotState[]; value: number } {
  const state: SlotState[] = slots.map((columns, k) => ({ column: columns[0]!, weight: k === anchor ? 1 : 0 }));
  let best = evaluate(state);
  // Best (alternative, weight) of slot k with the other slots fixed; updates state and best.
  const improveSlot = (k: number): boolean => {
    let improved = false;
    const trials = slots[k]!.flatMap((column) => (k === anchor ? [1] : BLEND_GRID).map((weight) => ({ column, weight })));
    for (const trial of trials) {
      const current = state[k]!;
      if ((trial.column === current.column && trial.weight === current.weight) || (trial.weight === 0 && current.weight === 0)) continue;
      const candidate = state.slice();
      candidate[k] = trial;
      const value = evaluate(candidate);
      if (value > best + 1e-9) {
        best = value;
        state[k] = trial;
        improved = true;
      }
    }
    return improved;
  };
  for (let round = 1; round <= 4; round++) {
    let improved = false;
    for (let k = 0; k < slots.length; k++) improved = improveSlot(k) || improved;
    onRound(round, state, best);
    if (!improved) break;
  }
  return { state, value: best };
}

/**
 * Blend on the validation cases: each component contributes one of its best validation variants (a component
 * chosen for its own score is not always the best complement), with a weight. Scores are first divided by
 * each model's mean top score (so weights are comparable); the best single component is the anchor (weight 1).
 * Ranks are computed among the union of the models' top-M items (items outside every top-M are taken as
 * ranked below): exact for the ranks that matter to @K ≤ M metrics in all but pathological cases, and cheap
 * enough to try many weights. Used for selection only; the test figures are computed exactly.
 */
async function selectBlend(
  spec: BlendSpec,
  components: { name: string; selected: Selected }[],
  split: EvalSplit,
  cases: readonly EvalCase[],
  topM: number,
  log: (l: string) => void,
): Promise<{ parts: { candidate: Candidate; weight: number }[]; validation: number; seconds: number }> {
  const started = performance.now();
  const alternatives = components.flatMap((c) => c.selected.alternatives);
  const slots: number[][] = [];
  let next = 0;
  for (const c of components) slots.push(c.selected.alternatives.map(() => next++));
  const { blendCases, scale } = await collectBlendCases(
    alternatives.map((a) => a.trained),
    split,
    cases,
    topM,
  );
  const metric = split.selectionMetric;
  const columnWeights = (state: readonly SlotState[]) => new Map(state.map((s) => [s.column, s.weight * scale[s.column]!] as const));
  const anchor = components.reduce((best, c, k) => (c.selected.validation > components[best]!.selected.validation ? k : best), 0);
  const describe = (state: readonly SlotState[]) => state.map((s, k) => `${components[k]!.name}#${slots[k]!.indexOf(s.column) + 1}×${s.weight}`).join(' + ');
  const { state, value } = searchSlots(
    slots,
    anchor,
    (trial) => blendMetric(blendCases, alternatives.length, columnWeights(trial), metric),
    (round, current, best) => log(`  ${spec.name} round ${round}: ${describe(current)} → validation ${metric} ${best.toFixed(4)}`),
  );
  const parts = state.map((s) => ({ candidate: alternatives[s.column]!.candidate, weight: s.weight * scale[s.column]! }));
  return { parts, validation: value, seconds: (performance.now() - started) / 1000 };
}

export function formatParams(params: Record<string, number | string | boolean> | undefined): string {
  if (!params) return '';
  return Object.entries(params)
    .map(([k, v]) => `${k}=${typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(3)) : v}`)
    .join(' ');
}

interface Chosen {
  candidate: Candidate;
  validation: number;
  selectionSeconds: number;
  variantsTried: number;
}

/** Step 1: every spec's variant (and every blend's weights) chosen on the validation stage only. */
async function selectAll(
  split: EvalSplit,
  specs: readonly EntrySpec[],
  cases: readonly EvalCase[],
  options: RunOptions,
  log: (l: string) => void,
): Promise<Map<string, Chosen>> {
  const selected = new Map<string, Selected>();
  const chosen = new Map<string, Chosen>();
  for (const spec of specs) {
    if (!isBlend(spec)) {
      log(`selecting ${spec.name} (${spec.variants.length} variant${spec.variants.length > 1 ? 's' : ''})`);
      const s = await selectVariant(spec, split, cases, options.blendAlternatives ?? 2, log);
      selected.set(spec.name, s);
      chosen.set(spec.name, s);
      continue;
    }
    const components = spec.components.flatMap((name) => {
      const s = selected.get(name);
      return s ? [{ name, selected: s }] : [];
    });
    if (components.length < 2) {
      log(`  ${spec.name}: skipped (fewer than two of its components were run: ${spec.components.join(', ')})`);
      continue;
    }
    const blend = await selectBlend(spec, components, split, cases, options.blendTopM ?? 100, log);
    chosen.set(spec.name, {
      candidate: blendCandidate(blend.parts, spec.name),
      validation: blend.validation,
      selectionSeconds: blend.seconds,
      variantsTried: 1,
    });
  }
  return chosen;
}

export async function runEvaluation(split: EvalSplit, specs: readonly EntrySpec[], options: RunOptions = {}): Promise<EvaluationReport> {
  const started = performance.now();
  const ks = options.ks ?? [5, 10, 20];
  const coverageK = options.coverageK ?? 10;
  const refit = options.refit ?? true;
  const log = options.log ?? (() => {});
  const testCases = sampleGroups(split.test.cases, options.maxUsers);
  const validationCases = sampleGroups(split.validation.cases, options.selectionUsers ?? 10_000);
  log(
    `${split.dataset}: ${split.nItems} items, ${testCases.length} test cases, ${validationCases.length} validation cases (selection on ${split.selectionMetric})`,
  );

  const chosen = await selectAll(split, specs, validationCases, options, log);
  // The validation models are no longer needed once everything is chosen (unless reused as they are).
  if (refit) forgetMemo(split.validation.train, () => false);

  // Step 2: train every chosen model once and rank every test case.
  const trainData = refit ? split.test.train : split.validation.train;
  const models: ModelResult[] = [];
  for (const spec of specs) {
    const c = chosen.get(spec.name);
    if (!c) continue;
    log(`testing ${spec.name}`);
    const trained = await c.candidate.train(trainData);
    const { metrics, coverage } = await evaluateTrained(trained, split, testCases, ks, coverageK);
    models.push({
      name: spec.name,
      metrics,
      coverage,
      trainingSeconds: trained.trainingSeconds,
      selectionSeconds: c.selectionSeconds,
      validation: c.validation,
      variantsTried: c.variantsTried,
      params: trained.params ?? {},
      onnx: typeof trained.toOnnx === 'function',
    });
    log(`  ${spec.name}: ${ks.map((k) => `NDCG@${k} ${(metrics[`NDCG@${k}`] ?? 0).toFixed(4)}`).join(' ')}`);
  }
  return {
    dataset: split.dataset,
    protocol: split.protocol,
    nItems: split.nItems,
    testCases: testCases.length,
    validationCases: validationCases.length,
    selectionMetric: split.selectionMetric,
    refit,
    ks,
    coverageK,
    models,
    notes: split.notes,
    seconds: (performance.now() - started) / 1000,
  };
}

/** Fixed-width table of a report (one row per model). */
export function formatTable(report: EvaluationReport): string {
  const metricCols = report.ks.flatMap((k) => [`HR@${k}`, `NDCG@${k}`, `MRR@${k}`]);
  const header = ['model', ...metricCols, `cov@${report.coverageK}`, 'train s', 'select s', `val ${report.selectionMetric}`, 'onnx'];
  const rows = report.models.map((m) => [
    m.name,
    ...metricCols.map((c) => (m.metrics[c] ?? 0).toFixed(4)),
    m.coverage.toFixed(4),
    m.trainingSeconds.toFixed(1),
    m.selectionSeconds.toFixed(1),
    Number.isNaN(m.validation) ? '-' : m.validation.toFixed(4),
    m.onnx ? 'yes' : 'no',
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  const out = [
    `${report.dataset} — ${report.protocol}`,
    `${report.nItems} items, ${report.testCases} test cases, selection on ${report.validationCases} validation cases (${report.selectionMetric}), ${report.refit ? 'refit on train+validation' : 'no refit'}`,
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ];
  for (const m of report.models) out.push(`  ${m.name}: ${formatParams(m.params)}`);
  return out.join('\n');
}

/** The report as the CLI's last line: per model HR/NDCG/MRR@K, coverage, seconds. */
export function reportJson(report: EvaluationReport): Record<string, unknown> {
  return {
    dataset: report.dataset,
    protocol: report.protocol,
    items: report.nItems,
    testCases: report.testCases,
    validationCases: report.validationCases,
    selectionMetric: report.selectionMetric,
    refit: report.refit,
    seconds: Number(report.seconds.toFixed(1)),
    models: Object.fromEntries(
      report.models.map((m) => {
        const metrics = Object.fromEntries(
          report.ks.flatMap((k) => [`HR@${k}`, `NDCG@${k}`, `MRR@${k}`].map((c) => [c, Number((m.metrics[c] ?? 0).toFixed(5))])),
        );
        return [
          m.name,
          {
            ...metrics,
            [`coverage@${report.coverageK}`]: Number(m.coverage.toFixed(5)),
            trainingSeconds: Number(m.trainingSeconds.toFixed(2)),
            selectionSeconds: Number(m.selectionSeconds.toFixed(2)),
            validation: Number.isNaN(m.validation) ? null : Number(m.validation.toFixed(5)),
            onnx: m.onnx,
            params: m.params,
          },
        ];
      }),
    ),
  };
}
