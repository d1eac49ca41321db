/**
 * The offline evaluation runner: every candidate and baseline on the same split, in one process.
 *
 *   1. Selection (validation stage only). Every variant of a model (its hyperparameter grid) is trained on
 *      split.validation.train and scored on the validation cases; the best by split.selectionMetric wins.
 *      A blend then picks, per component, one of its best validation variants and a weight, on the same
 *      validation cases (./blend-search).
 *   2. Test. Each chosen model is trained once on split.test.train (or, with refit = false, the validation
 *      models are reused) and every test case is ranked once.
 * The test cases are read in step 2 only: nothing about them can influence a choice.
 */
import { blendCandidate } from '../recommender/blend';
import { forgetMemo } from '../recommender/train-data';
import { selectBlend } from './blend-search';
import type { Candidate, TrainedCandidate } from './candidate';
import type { MetricSummary } from './metrics';
import { type EvalCase, type EvalSplit, sampleGroups } from './protocols';
import { formatParams } from './report';
import { evaluateTrained, metricK } from './scoring';

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

export interface Chosen {
  candidate: Candidate;
  validation: number;
  selectionSeconds: number;
  variantsTried: number;
}

/** Step 1: every spec's variant (and every blend's weights) chosen on the validation stage only. */
export async function selectAll(
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
      return s ? [{ name, validation: s.validation, alternatives: s.alternatives }] : [];
    });
    if (components.length < 2) {
      log(`  ${spec.name}: skipped (fewer than two of its components were run: ${spec.components.join(', ')})`);
      continue;
    }
    const blend = await selectBlend(spec.name, components, split, cases, options.blendTopM ?? 100, log);
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
