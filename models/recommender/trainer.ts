/**
 * The heavy half of the `recommender` family (./family.ts is the descriptor): train a candidate (in
 * a Lambda or in the Fargate training container — the same function), evaluate it against the
 * champion and the popularity baseline on the same time-based holdout, check artifacts against the
 * contract (./contract.ts) and judge uploaded models. Loads onnxruntime-node.
 */
import type * as ort from 'onnxruntime-node';
import type { EvaluateContext, FamilyScores, FamilyTrainer, TrainContext, TrainedCard as FamilyTrainedCard } from '../../shared/families/contract';
import { createSession, describeSession } from '../../shared/onnx/session';
import type { ModelRegistry } from '../../shared/registry/registry';
import { loadSnapshot } from '../../shared/snapshots/snapshot';
import type { MetricSummary } from '../evaluation/metrics';
import { checkRecommenderSession, RECOMMENDER_FAMILY } from './contract';
import { buildTestCases, evaluateScorer, onnxScorer, popularityScorer, type TestCase } from './evaluate';
import { type ModelSelection, type SelectionOptions, itemIndexOf, selectServedModel, trainArtifact } from './select';
import { DEFAULT_TRAIN_OPTIONS, type ItemIndex } from './train';
import { judgeRecommenderUpload } from './upload';

/** A card as the training step writes it: no evaluation yet, plus where it was trained and how the model was chosen. */
export type TrainedCard = FamilyTrainedCard & { selection?: SelectionRecord };

/** Bumped when training code changes in a way that changes models. */
export const CODE_VERSION = 'recommender-selected-blend@2';

/** How the served model was chosen, as the card records it. */
export interface SelectionRecord {
  chosen: string;
  validationStart: string;
  validationCases: number;
  /** Validation NDCG@10 per entry, best first. */
  validation: { name: string; value: number }[];
  skipped?: string;
  /** Epochs planned for the GRU candidate (0: left out). */
  sequenceEpochs: number;
  seconds: number;
}

/** JSON has no Infinity (a half-life of Infinity is "no recency decay"): such values are written as strings. */
function cardParams(params: Record<string, number | string | boolean>): Record<string, number | string | boolean> {
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, typeof v === 'number' && !Number.isFinite(v) ? String(v) : v]));
}

function describeChoice(selection: ModelSelection, params: Record<string, number | string | boolean> | undefined): string {
  const what = selection.chosen === 'blend' && typeof params?.components === 'string' ? `blend ${params.components}` : selection.chosen;
  return `${what}, chosen on validation NDCG@10 (one ONNX graph)`;
}

/**
 * Trains the run's candidate from one snapshot: chooses the model on a validation window before the
 * holdout (models/recommender/select.ts), then trains the choice twice under the candidate version —
 * the evaluation artifact on the interactions before the holdout (scored by the next task) and the
 * serving artifact on the whole window. The card (without metrics: the gate adds them) is written
 * last; a retry that finds it returns it, one that does not rewrites the same bytes (create-only
 * versions accept identical content).
 */
export async function trainRecommenderCandidate({ blobs, registry, run, compute, now }: TrainContext): Promise<TrainedCard> {
  const manifest = run.snapshot;
  const version = run.candidateVersion;
  const done = await registry.getCard(RECOMMENDER_FAMILY, version);
  if (done) return done;
  const { interactions, items: meta } = await loadSnapshot(blobs, manifest);
  const holdoutStartMs = Date.parse(manifest.holdoutStart);
  const options = run.hyperparameters as SelectionOptions;
  const beforeHoldout = interactions.filter((x) => x.ts < holdoutStartMs);
  const evalItems = itemIndexOf(beforeHoldout, options);
  // The whole window goes in: selection reads only what precedes the holdout, and sizes the GRU's epochs on the largest training.
  const selection = await selectServedModel(interactions, holdoutStartMs, evalItems.itemIds, options);
  const evalModel = await trainArtifact(selection.candidate, beforeHoldout, evalItems);
  const serving = await trainArtifact(selection.candidate, interactions, itemIndexOf(interactions, options));
  const session = await createSession(serving.onnx);
  let signature: ReturnType<typeof describeSession>;
  try {
    signature = describeSession(session);
  } finally {
    await session.release();
  }
  await registry.putArtifact(RECOMMENDER_FAMILY, version, 'model.onnx', serving.onnx);
  await registry.putArtifact(RECOMMENDER_FAMILY, version, 'items.json', {
    ...serving.items,
    categories: serving.items.itemIds.map((id) => meta[id]?.category ?? null),
  });
  await registry.putArtifact(RECOMMENDER_FAMILY, version, 'eval/model.onnx', evalModel.onnx);
  await registry.putArtifact(RECOMMENDER_FAMILY, version, 'eval/items.json', evalModel.items);
  const champion = await registry.getAlias(RECOMMENDER_FAMILY, 'champion');
  const record: SelectionRecord = {
    chosen: selection.chosen,
    validationStart: selection.validationStart,
    validationCases: selection.validationCases,
    validation: selection.validation.map((v) => ({ name: v.name, value: Number(v.value.toFixed(6)) })),
    ...(selection.skipped ? { skipped: selection.skipped } : {}),
    sequenceEpochs: selection.sequenceEpochs,
    seconds: Number(selection.seconds.toFixed(3)),
  };
  const card: TrainedCard = {
    family: RECOMMENDER_FAMILY,
    version,
    createdAt: now.toISOString(),
    algorithm: describeChoice(selection, serving.trained.params),
    hyperparameters: cardParams({
      ...Object.fromEntries(Object.entries({ ...DEFAULT_TRAIN_OPTIONS, ...options }).filter(([k]) => k !== 'lambda' || options.lambda !== undefined)),
      ...(serving.trained.params ?? {}),
    }),
    signature: {
      inputs: signature.inputs.map((v) => ({ name: v.name, type: v.type ?? 'unknown', shape: v.shape ?? [] })),
      outputs: signature.outputs.map((v) => ({ name: v.name, type: v.type ?? 'unknown', shape: v.shape ?? [] })),
    },
    data: {
      snapshot: manifest.runId,
      asOf: manifest.asOf,
      holdoutStart: manifest.holdoutStart,
      users: serving.stats.users,
      items: serving.stats.items,
      interactions: serving.stats.interactions,
    },
    trainingSeconds: Number((selection.seconds + evalModel.stats.seconds + serving.stats.seconds).toFixed(3)),
    ...(champion ? { parentVersion: champion.version } : {}),
    codeVersion: CODE_VERSION,
    source: { kind: 'trained' },
    compute,
    selection: record,
  };
  await registry.putCard(card);
  return card;
}

interface LoadedModel {
  session: ort.InferenceSession;
  items: ItemIndex;
}

async function loadModel(registry: ModelRegistry, version: string, artifact: 'serving' | 'eval'): Promise<LoadedModel | undefined> {
  const prefix = artifact === 'eval' ? 'eval/' : '';
  const [bytes, items] = await Promise.all([
    registry.getModelBytes(RECOMMENDER_FAMILY, version, `${prefix}model.onnx`),
    registry.getJson<ItemIndex>(RECOMMENDER_FAMILY, version, `${prefix}items.json`),
  ]);
  if (!bytes || !items) return undefined;
  return { session: await createSession(bytes), items };
}

async function score(model: LoadedModel, cases: readonly TestCase[]): Promise<MetricSummary> {
  try {
    return await evaluateScorer(cases, model.items.itemIds, onnxScorer(model.session));
  } finally {
    await model.session.release();
  }
}

/**
 * Which artifact of the champion can be scored on this holdout without leakage: the served model
 * when it was trained on data up to the holdout start at most, else its evaluation artifact (trained
 * before ITS holdout start) when that start is no later than ours; otherwise none.
 */
export async function championArtifact(
  registry: ModelRegistry,
  version: string,
  holdoutStart: string,
): Promise<{ artifact: 'serving' | 'eval' } | { reason: string }> {
  const card = await registry.getCard(RECOMMENDER_FAMILY, version);
  if (!card) return { reason: `champion ${version} has no model card` };
  const holdoutMs = Date.parse(holdoutStart);
  if (Date.parse(card.data.asOf) <= holdoutMs) return { artifact: 'serving' };
  const hasEval = await registry.getModelBytes(RECOMMENDER_FAMILY, version, 'eval/model.onnx');
  if (hasEval && Date.parse(card.data.holdoutStart) <= holdoutMs) return { artifact: 'eval' };
  return {
    reason: `champion ${version} was trained on data up to ${card.data.asOf}, after this holdout's start ${holdoutStart}, and has no evaluation artifact older than it`,
  };
}

/**
 * Scores the candidate's evaluation artifact, the current champion and the popularity baseline on
 * the same holdout cases, through onnxruntime as served. Writes nothing (the gate records the
 * result on the card), so a retry is free of side effects.
 */
export async function evaluateRecommenderCandidate({ blobs, registry, run }: EvaluateContext): Promise<FamilyScores> {
  const manifest = run.snapshot;
  const version = run.candidateVersion;
  const [snapshot, alias] = await Promise.all([loadSnapshot(blobs, manifest), registry.getAlias(RECOMMENDER_FAMILY, 'champion')]);
  const cases = buildTestCases(snapshot.interactions, Date.parse(manifest.holdoutStart));
  const candidate = await loadModel(registry, version, 'eval');
  if (!candidate) throw new Error(`candidate ${RECOMMENDER_FAMILY}/${version} is incomplete in the registry (eval/model.onnx, eval/items.json)`);
  const baseline = await evaluateScorer(cases, candidate.items.itemIds, popularityScorer(candidate.items.popularity));
  const metrics = await score(candidate, cases);
  const evaluation: FamilyScores = {
    metrics,
    baseline,
    cases: cases.length,
  };
  if (alias && alias.version !== version) {
    const choice = await championArtifact(registry, alias.version, manifest.holdoutStart);
    const model = 'artifact' in choice ? await loadModel(registry, alias.version, choice.artifact) : undefined;
    if ('artifact' in choice && model) {
      evaluation.champion = { version: alias.version, artifact: choice.artifact, metrics: await score(model, cases) };
    } else {
      evaluation.championNotComparable = 'reason' in choice ? choice.reason : `champion ${alias.version} has no ${choice.artifact} artifact`;
    }
  }
  return evaluation;
}

/** The family's trainer (models/trainers.ts loads it by this name). */
export const trainer: FamilyTrainer = {
  train: trainRecommenderCandidate,
  evaluate: evaluateRecommenderCandidate,
  async checkArtifact(model, { items }) {
    const session = await createSession(model);
    try {
      // The item count comes from the card (items.json); else from a fixed output dimension.
      const nItems = items ?? Number(describeSession(session).outputs[0]?.shape?.[1]);
      const result = await checkRecommenderSession(session, nItems);
      return result.ok ? { ok: true } : { ok: false, reasons: result.reasons };
    } finally {
      await session.release();
    }
  },
  judgeUpload: judgeRecommenderUpload,
};
