/**
 * The served recommender, chosen by validation inside the retraining pipeline (issue 4: "the blend actually
 * served is chosen by validation, not by hand").
 *
 *   1. Item index: the most popular items of the training window (buildItemIndex: time-decayed, capped at
 *      maxItems because every exported term is a dense n×n matrix).
 *   2. Selection: the interactions before the holdout are split once more in time — the validation window is
 *      the last `validationDays` before the holdout start. Every candidate of the pipeline catalogue (item-kNN,
 *      EASE, transition, popularity, and the GRU sequence model within a time budget; a small hyperparameter grid
 *      each) is trained on the data before the
 *      validation window and scored on each shopper's next new item inside it; the runner's blend search then
 *      picks per component a variant and a weight (models/evaluation/blend-search). The entry with the best
 *      validation NDCG@10 wins — the blend, or a single model when blending does not help.
 *   3. The chosen candidate (hyperparameters and weights fixed) is trained again on everything before the
 *      holdout (the evaluation artifact the gate scores) and on the whole window (the served artifact). The
 *      linear item-item components fold into one linear graph, the GRU (when it has a weight) is composed
 *      beside it: ONE ONNX model of the recommender contract either way.
 * The holdout itself is never read here: selection sees only data before the holdout start.
 */
import type { Interaction } from '../../shared/snapshots/snapshot';
import type { Candidate, TrainedCandidate } from '../evaluation/candidate';
import type { EvalSplit } from '../evaluation/protocols';
import { interactionsToTrain, sampleGroups, timeSplit } from '../evaluation/protocols';
import { formatParams } from '../evaluation/report';
import { type EntrySpec, type ModelSpec, selectAll } from '../evaluation/runner';
import { easeCandidate } from './ease-candidate';
import { itemKnnCandidate } from './item-knn';
import { popularityCandidate } from './popularity';
import { initTfjsBackend } from '../sequence/backend';
import { createSequenceCandidate, DEFAULT_SEQUENCE_CONFIG } from '../sequence/index';
import { transitionCandidate } from './transition';
import { buildItemIndex, DEFAULT_TRAIN_OPTIONS, type ItemIndex, type RecommenderTrainOptions } from './train';

const INF = Number.POSITIVE_INFINITY;

export interface SelectionOptions extends RecommenderTrainOptions {
  /** Length of the validation window before the holdout start, in days. */
  validationDays?: number;
  /** Fewer validation cases than this: no selection, the default EASE is trained (and the card says why). */
  minValidationCases?: number;
  /** Validation shoppers sampled for selection (deterministic). */
  selectionUsers?: number;
  /**
   * Planned training time of the sequence model (tfjs GRU, models/sequence) per training, in seconds; 0
   * leaves it out. Turned into a FIXED number of epochs from the data size at PLANNED_EXAMPLES_PER_SECOND
   * (never a wall-clock cut-off: a retried run must train the same bytes); fewer than one epoch leaves it
   * out. It is trained at most three times (validation, evaluation artifact, served artifact), the last two
   * only when the selection gives it a weight.
   */
  sequenceTrainingSeconds?: number;
}

/** GRU training speed planned for (default config, wasm backend, one core; measured 855 examples/s: `npm run bench -- sequence`). */
export const PLANNED_EXAMPLES_PER_SECOND = 800;

/** Epochs of the sequence model that fit the budget for this many interactions (0: leave it out). */
export function sequenceEpochs(budgetSeconds: number, interactions: number): number {
  if (!(budgetSeconds > 0)) return 0;
  return Math.min(DEFAULT_SEQUENCE_CONFIG.epochs, Math.floor((budgetSeconds * PLANNED_EXAMPLES_PER_SECOND) / Math.max(1, interactions)));
}

export const DEFAULT_SELECTION = { validationDays: 7, minValidationCases: 30, selectionUsers: 5000, sequenceTrainingSeconds: 60 } as const;

/** The pipeline's candidate catalogue: small grids; every model exports to the recommender contract, and so does any blend of them. */
export function pipelineCatalogue(options: Pick<SelectionOptions, 'lambda'> & { sequenceEpochs?: number } = {}): EntrySpec[] {
  const lambdas = options.lambda !== undefined ? [options.lambda] : [10, 50, 200, 1000];
  const specs: ModelSpec[] = [
    { name: 'popularity', variants: [popularityCandidate()] },
    {
      name: 'itemknn',
      variants: [50, 200].flatMap((k) => [INF, 4].map((h) => itemKnnCandidate({ neighbours: k, halfLife: h }))),
    },
    { name: 'ease', variants: lambdas.flatMap((lambda) => [INF, 4].map((h) => easeCandidate({ lambda, halfLife: h }))) },
    {
      name: 'transition',
      variants: [2, 10].flatMap((window) => [0, 0.5].flatMap((rowNorm) => [1, 2].map((h) => transitionCandidate({ window, rowNorm, halfLife: h })))),
    },
  ];
  // The design document's sequence family: GRU over the item order (a blend with it is composed into one ONNX graph).
  const epochs = options.sequenceEpochs ?? 0;
  if (epochs > 0) specs.push({ name: 'gru', variants: [createSequenceCandidate({ epochs })] });
  return [...specs, { name: 'blend', components: specs.map((s) => s.name) }];
}

export interface ModelSelection {
  /** The chosen candidate (weights and hyperparameters fixed); train it on any data of the same index. */
  candidate: Candidate;
  /** Name of the winning entry (`blend`, `ease`, …). */
  chosen: string;
  /** Validation NDCG@10 of every entry, best first. */
  validation: { name: string; value: number }[];
  validationCases: number;
  validationStart: string;
  /** Why no selection ran (too little validation data), when it did not. */
  skipped?: string;
  /** Epochs planned for the GRU candidate (0: left out, the budget did not fit one epoch). */
  sequenceEpochs: number;
  seconds: number;
}

/** The default when there is not enough data to choose: plain EASE on log-damped strengths. */
function defaultCandidate(options: Required<RecommenderTrainOptions>): Candidate {
  return easeCandidate({ lambda: options.lambda, halfLife: INF });
}

/**
 * Chooses the served candidate on data before `holdoutStartMs` only (see the header). `itemIds` is the
 * item index of the evaluation artifact (items of the data before the holdout).
 */
export async function selectServedModel(
  interactions: readonly Interaction[],
  holdoutStartMs: number,
  itemIds: readonly string[],
  options: SelectionOptions = {},
  log: (line: string) => void = () => {},
): Promise<ModelSelection> {
  const started = performance.now();
  const hp = { ...DEFAULT_TRAIN_OPTIONS, ...options };
  const settings = { ...DEFAULT_SELECTION, ...options };
  const validationStartMs = holdoutStartMs - settings.validationDays * 86_400_000;
  const validationStart = new Date(validationStartMs).toISOString();
  const seconds = () => (performance.now() - started) / 1000;
  const before = interactions.filter((x) => x.ts < holdoutStartMs);
  const skip = (reason: string): ModelSelection => ({
    candidate: defaultCandidate(hp),
    chosen: 'ease',
    validation: [],
    validationCases: 0,
    validationStart,
    skipped: reason,
    sequenceEpochs: 0,
    seconds: seconds(),
  });
  if (!before.some((x) => x.ts < validationStartMs)) return skip(`no interaction before the validation window (${validationStart})`);
  const split: EvalSplit = timeSplit(before, { holdoutStartMs, validationStartMs, itemIds }, 'snapshot');
  const known = split.validation.cases.filter((c) => c.target >= 0);
  if (known.length < settings.minValidationCases) {
    return skip(`${known.length} validation cases with a known target (at least ${settings.minValidationCases} needed)`);
  }
  const cases = sampleGroups(split.validation.cases, settings.selectionUsers);
  log(`selection: ${itemIds.length} items, ${cases.length} validation cases from ${validationStart}`);
  // Sized on the whole window (the largest of the three trainings), so every training keeps to the plan.
  let epochs = sequenceEpochs(settings.sequenceTrainingSeconds, interactions.length);
  // The plan assumes the wasm backend: on the ~100× slower cpu fallback the GRU would blow the budget.
  if (epochs > 0 && (await initTfjsBackend()) !== 'wasm') {
    epochs = 0;
    log('selection: GRU left out (tfjs wasm backend unavailable)');
  } else log(epochs > 0 ? `selection: GRU with ${epochs} epoch(s)` : `selection: GRU left out (budget ${settings.sequenceTrainingSeconds} s < one epoch)`);
  const chosen = await selectAll(split, pipelineCatalogue({ ...options, sequenceEpochs: epochs }), cases, {}, log);
  const ranked = [...chosen].map(([name, c]) => ({ name, value: c.validation })).sort((a, b) => b.value - a.value);
  const best = ranked[0];
  if (!best) return skip('no candidate could be trained on the validation data');
  return {
    candidate: chosen.get(best.name)!.candidate,
    chosen: best.name,
    validation: ranked,
    validationCases: cases.length,
    validationStart,
    sequenceEpochs: epochs,
    seconds: seconds(),
  };
}

/** A served-model artifact: the ONNX bytes of the recommender contract and its item index. */
export interface RecommenderArtifact {
  onnx: Uint8Array;
  items: ItemIndex;
  trained: TrainedCandidate;
  stats: { users: number; items: number; interactions: number; seconds: number };
}

/** Item index of a training window (time-decayed popularity, capped): shared by selection and training. */
export function itemIndexOf(interactions: readonly Interaction[], options: RecommenderTrainOptions = {}): ItemIndex {
  const index = buildItemIndex(interactions, { ...DEFAULT_TRAIN_OPTIONS, ...options });
  if (index.itemIds.length === 0) throw new Error('No item has enough interactions to train a recommender');
  return index;
}

/** Trains `candidate` on `interactions` over `items` and exports it to ONNX (the contract's input/output). */
export async function trainArtifact(
  candidate: Candidate,
  interactions: readonly Interaction[],
  items: ItemIndex,
): Promise<RecommenderArtifact> {
  const started = performance.now();
  const index = new Map(items.itemIds.map((id, i) => [id, i]));
  const data = interactionsToTrain(interactions, index, items.itemIds.length);
  const trained = await candidate.train(data);
  if (!trained.toOnnx) {
    throw new Error(`the chosen model '${trained.name}' (${formatParams(trained.params)}) has no ONNX export for ${items.itemIds.length} items`);
  }
  return {
    onnx: trained.toOnnx(),
    items,
    trained,
    stats: {
      users: data.sequences.length,
      items: items.itemIds.length,
      interactions: data.sequences.reduce((s, q) => s + q.length, 0),
      seconds: (performance.now() - started) / 1000,
    },
  };
}
