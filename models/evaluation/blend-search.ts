/**
 * Blend weights on the validation cases (selection only: the test figures of the chosen blend are computed
 * exactly by the runner). See selectBlend.
 */
import type { Candidate, TrainedCandidate } from './candidate';
import { MetricAccumulator, topK } from './metrics';
import type { EvalCase, EvalSplit } from './protocols';
import { clearMask, exclusionFor, metricK, scoresOf } from './scoring';

/** A blend component: its best validation variants, best first, trained on the validation stage. */
export interface BlendComponentChoice {
  name: string;
  /** Selection metric of its best variant on validation. */
  validation: number;
  alternatives: { candidate: Candidate; trained: TrainedCandidate }[];
}

/** Per validation case: the union of every column's top-M items (and the target) with each column's scores. */
export interface BlendCase {
  /** |U| × C column scores, row-major. */
  scores: Float32Array;
  size: number;
  /** Row of the target in `scores`, −1 when the target is unknown. */
  target: number;
}

const BLEND_GRID = [0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.4, 2, 3, 5, 10];

export function blendMetric(cases: readonly BlendCase[], columnCount: number, weights: ReadonlyMap<number, number>, metric: string): number {
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
export async function collectBlendCases(
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
export interface SlotState {
  column: number;
  weight: number;
}

/**
 * Coordinate ascent: slot by slot, every (alternative, BLEND_GRID weight) pair is tried with the other slots
 * fixed (the anchor slot keeps weight 1 but may switch alternative); rounds repeat until none improves.
 */
export function searchSlots(
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
export async function selectBlend(
  name: string,
  components: readonly BlendComponentChoice[],
  split: EvalSplit,
  cases: readonly EvalCase[],
  topM: number,
  log: (l: string) => void,
): Promise<{ parts: { candidate: Candidate; weight: number }[]; validation: number; seconds: number }> {
  const started = performance.now();
  const alternatives = components.flatMap((c) => c.alternatives);
  const slots: number[][] = [];
  let next = 0;
  for (const c of components) slots.push(c.alternatives.map(() => next++));
  const { blendCases, scale } = await collectBlendCases(
    alternatives.map((a) => a.trained),
    split,
    cases,
    topM,
  );
  const metric = split.selectionMetric;
  const columnWeights = (state: readonly SlotState[]) => new Map(state.map((s) => [s.column, s.weight * scale[s.column]!] as const));
  const anchor = components.reduce((best, c, k) => (c.validation > components[best]!.validation ? k : best), 0);
  const describe = (state: readonly SlotState[]) => state.map((s, k) => `${components[k]!.name}#${slots[k]!.indexOf(s.column) + 1}×${s.weight}`).join(' + ');
  const { state, value } = searchSlots(
    slots,
    anchor,
    (trial) => blendMetric(blendCases, alternatives.length, columnWeights(trial), metric),
    (round, current, best) => log(`  ${name} round ${round}: ${describe(current)} → validation ${metric} ${best.toFixed(4)}`),
  );
  const parts = state.map((s) => ({ candidate: alternatives[s.column]!.candidate, weight: s.weight * scale[s.column]! }));
  return { parts, validation: value, seconds: (performance.now() - started) / 1000 };
}
