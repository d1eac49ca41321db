/**
 * The `recommender` family in the retraining run: train a candidate (in a Lambda or in the Fargate
 * training container — the same function) and evaluate it against the champion and the popularity
 * baseline on the same time-based holdout. Loads onnxruntime-node (through the model code).
 */
import type * as ort from 'onnxruntime-node';
import { RECOMMENDER_FAMILY } from '../../../models/recommender/contract';
import { buildTestCases, evaluateScorer, onnxScorer, popularityScorer, type TestCase } from '../../../models/recommender/evaluate';
import { type ItemIndex, trainRecommender } from '../../../models/recommender/train';
import type { MetricSummary } from '../../../models/evaluation/metrics';
import { createSession, describeSession } from '../../onnx/session';
import { type ModelCard, ModelRegistry } from '../../registry/registry';
import type { BlobStore } from '../../storage/blob';
import { type FamilyEvaluation, type RunState, requireSnapshot } from '../run';
import { loadSnapshot } from '../snapshot';

/** A card as the training step writes it: no evaluation yet, plus where it was trained. */
export type TrainedCard = ModelCard & { compute?: string };

/** Bumped when training code changes in a way that changes models. */
export const CODE_VERSION = 'recommender-ease@1';

/**
 * Trains two artifacts from one snapshot under the run's candidate version: the evaluation model on
 * the interactions before the holdout (scored by the next task) and the serving model on the whole
 * window with the same hyperparameters. The card (without metrics: the gate adds them) is written
 * last; a retry that finds it returns it, one that does not rewrites the same bytes (create-only
 * versions accept identical content).
 */
export async function trainRecommenderCandidate(blobs: BlobStore, state: RunState, compute: string, now = new Date()): Promise<TrainedCard> {
  const manifest = requireSnapshot(state);
  const registry = new ModelRegistry(blobs);
  const version = state.candidateVersion;
  const done = await registry.getCard(RECOMMENDER_FAMILY, version);
  if (done) return done;
  const { interactions, items: meta } = await loadSnapshot(blobs, manifest);
  const holdoutStartMs = Date.parse(manifest.holdoutStart);
  const options = state.config.hyperparameters[RECOMMENDER_FAMILY] ?? {};
  const evalModel = await trainRecommender(
    interactions.filter((x) => x.ts < holdoutStartMs),
    options,
    { version, split: 'train' },
  );
  const serving = await trainRecommender(interactions, evalModel.hyperparameters, { version, split: 'full' });
  const session = await createSession(serving.onnx);
  const signature = describeSession(session);
  await session.release();
  await registry.putArtifact(RECOMMENDER_FAMILY, version, 'model.onnx', serving.onnx);
  await registry.putArtifact(RECOMMENDER_FAMILY, version, 'items.json', {
    ...serving.items,
    categories: serving.items.itemIds.map((id) => meta[id]?.category ?? null),
  });
  await registry.putArtifact(RECOMMENDER_FAMILY, version, 'eval/model.onnx', evalModel.onnx);
  await registry.putArtifact(RECOMMENDER_FAMILY, version, 'eval/items.json', evalModel.items);
  const champion = await registry.getAlias(RECOMMENDER_FAMILY, 'champion');
  const card: TrainedCard = {
    family: RECOMMENDER_FAMILY,
    version,
    createdAt: now.toISOString(),
    algorithm: 'EASE item-item (closed form, onnxruntime Inverse)',
    hyperparameters: serving.hyperparameters,
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
    trainingSeconds: Number((evalModel.stats.seconds + serving.stats.seconds).toFixed(3)),
    ...(champion ? { parentVersion: champion.version } : {}),
    codeVersion: CODE_VERSION,
    source: { kind: 'trained' },
    compute,
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
export async function evaluateRecommenderCandidate(blobs: BlobStore, state: RunState): Promise<FamilyEvaluation> {
  const manifest = requireSnapshot(state);
  const registry = new ModelRegistry(blobs);
  const version = state.candidateVersion;
  const [training, snapshot, alias] = await Promise.all([
    registry.getCard(RECOMMENDER_FAMILY, version) as Promise<TrainedCard | undefined>,
    loadSnapshot(blobs, manifest),
    registry.getAlias(RECOMMENDER_FAMILY, 'champion'),
  ]);
  if (!training) throw new Error(`candidate ${RECOMMENDER_FAMILY}/${version} has no model card: TrainRecommender did not finish`);
  const cases = buildTestCases(snapshot.interactions, Date.parse(manifest.holdoutStart));
  const candidate = await loadModel(registry, version, 'eval');
  if (!candidate) throw new Error(`candidate ${RECOMMENDER_FAMILY}/${version} is incomplete in the registry (eval/model.onnx, eval/items.json)`);
  const baseline = await evaluateScorer(cases, candidate.items.itemIds, popularityScorer(candidate.items.popularity));
  const metrics = await score(candidate, cases);
  const evaluation: FamilyEvaluation = {
    family: RECOMMENDER_FAMILY,
    candidate: { version, trainingSeconds: training.trainingSeconds, compute: training.compute ?? 'unknown', hyperparameters: training.hyperparameters },
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
