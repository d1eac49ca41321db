import { randomUUID } from 'node:crypto';
import { evaluateScorer, gateAgainstBaseline, type GateDecision, onnxScorer, popularityScorer, buildTestCases } from '../../models/recommender/evaluate';
import { RECOMMENDER_FAMILY } from '../../models/recommender/contract';
import { type ItemIndex, trainRecommender } from '../../models/recommender/train';
import type { MetricSummary } from '../../models/evaluation/metrics';
import { createSession, describeSession } from '../onnx/session';
import { type ModelCard, ModelRegistry, newVersionId } from '../registry/registry';
import type { BlobStore } from '../storage/blob';
import { loadSnapshot, prepareSnapshot, type SnapshotManifest } from './snapshot';

/** Bumped when training code changes in a way that changes models. */
export const CODE_VERSION = 'recommender-ease@1';

/** The state the retraining state machine carries from task to task. */
export interface RunState {
  runId: string;
  startedAt: string;
  trigger?: string;
  snapshot?: SnapshotManifest;
  enoughData?: boolean;
  candidate?: { family: string; version: string; trainingSeconds: number };
  evaluation?: { model: MetricSummary; baseline: MetricSummary; cases: number };
  gate?: GateDecision;
  promoted?: { family: string; version: string; previous?: string };
  error?: { Error?: string; Cause?: string };
}

export interface PrepareInput {
  runId?: string;
  trigger?: string;
  asOf?: string;
  holdoutDays?: number;
  minUsers?: number;
}

/** Fewer holdout shoppers than this and a run is skipped: its metrics would be noise. */
export const MIN_HOLDOUT_USERS = 10;

export async function prepareStep(blobs: BlobStore, input: PrepareInput, now = new Date()): Promise<RunState> {
  const runId = input.runId ?? `${now.toISOString().replace(/[-:.]/g, '')}-${randomUUID().slice(0, 8)}`;
  const snapshot = await prepareSnapshot(blobs, { runId, ...(input.asOf ? { asOf: input.asOf } : {}), holdoutDays: input.holdoutDays ?? 7 });
  const enoughData = snapshot.counts.holdoutUsers >= (input.minUsers ?? MIN_HOLDOUT_USERS) && snapshot.counts.items >= 10;
  return { runId, startedAt: now.toISOString(), ...(input.trigger ? { trigger: input.trigger } : {}), snapshot, enoughData };
}

function requireSnapshot(state: RunState): SnapshotManifest {
  if (!state.snapshot) throw new Error('run state has no snapshot: PrepareSnapshot must run first');
  return state.snapshot;
}

/**
 * Trains two artifacts from one snapshot: the evaluation model on the interactions before the holdout
 * (scored in the next step) and the serving model on the whole window with the same hyperparameters.
 */
export async function trainStep(blobs: BlobStore, state: RunState, now = new Date()): Promise<RunState> {
  const manifest = requireSnapshot(state);
  const registry = new ModelRegistry(blobs);
  const { interactions, items: meta } = await loadSnapshot(blobs, manifest);
  const holdoutStartMs = Date.parse(manifest.holdoutStart);
  const version = newVersionId(now, state.runId);
  const evalModel = await trainRecommender(interactions.filter((x) => x.ts < holdoutStartMs), {}, { version, split: 'train' });
  const serving = await trainRecommender(interactions, evalModel.hyperparameters, { version, split: 'full' });
  const session = await createSession(serving.onnx);
  const signature = describeSession(session);
  await session.release();
  await registry.putArtifact(RECOMMENDER_FAMILY, version, 'model.onnx', serving.onnx);
  await registry.putArtifact(RECOMMENDER_FAMILY, version, 'items.json', withMeta(serving.items, meta));
  await registry.putArtifact(RECOMMENDER_FAMILY, version, 'eval/model.onnx', evalModel.onnx);
  await registry.putArtifact(RECOMMENDER_FAMILY, version, 'eval/items.json', evalModel.items);
  const champion = await registry.getAlias(RECOMMENDER_FAMILY, 'champion');
  const card: ModelCard = {
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
    trainingSeconds: evalModel.stats.seconds + serving.stats.seconds,
    ...(champion ? { parentVersion: champion.version } : {}),
    codeVersion: CODE_VERSION,
  };
  await registry.putCard(card);
  return { ...state, candidate: { family: RECOMMENDER_FAMILY, version, trainingSeconds: card.trainingSeconds } };
}

function withMeta(items: ItemIndex, meta: Record<string, { category?: string; price?: number; name?: string }>) {
  return { ...items, categories: items.itemIds.map((id) => meta[id]?.category ?? null) };
}

/** Scores the evaluation artifact (via onnxruntime, as served) and the popularity baseline on the same holdout. */
export async function evaluateStep(blobs: BlobStore, state: RunState): Promise<RunState> {
  const manifest = requireSnapshot(state);
  if (!state.candidate) throw new Error('run state has no candidate: TrainRecommender must run first');
  const registry = new ModelRegistry(blobs);
  const { family, version } = state.candidate;
  const [bytes, items, card, snapshot] = await Promise.all([
    registry.getModelBytes(family, version, 'eval/model.onnx'),
    registry.getJson<ItemIndex>(family, version, 'eval/items.json'),
    registry.getCard(family, version),
    loadSnapshot(blobs, manifest),
  ]);
  if (!bytes || !items || !card) throw new Error(`candidate ${family}/${version} is incomplete in the registry`);
  const cases = buildTestCases(snapshot.interactions, Date.parse(manifest.holdoutStart));
  const session = await createSession(bytes);
  try {
    const model = await evaluateScorer(cases, items.itemIds, onnxScorer(session));
    const baseline = await evaluateScorer(cases, items.itemIds, popularityScorer(items.popularity));
    const gate = gateAgainstBaseline(model, baseline);
    await registry.putCard({ ...card, metrics: model, baseline, gate });
    return { ...state, evaluation: { model, baseline, cases: cases.length }, gate };
  } finally {
    await session.release();
  }
}

export async function promoteStep(blobs: BlobStore, state: RunState, now = new Date()): Promise<RunState> {
  if (!state.candidate || !state.gate?.passed) throw new Error('only a candidate that passed the gate can be promoted');
  const registry = new ModelRegistry(blobs);
  const pointer = await registry.setAlias(state.candidate.family, 'champion', state.candidate.version, state.gate.reasons.join('; '), now);
  return { ...state, promoted: { family: state.candidate.family, version: pointer.version, ...(pointer.previous ? { previous: pointer.previous } : {}) } };
}

export type RunOutcome = 'promoted' | 'rejected' | 'skipped' | 'failed';

export interface RunReport {
  runId: string;
  outcome: RunOutcome;
  finishedAt: string;
  candidate?: RunState['candidate'];
  metrics?: MetricSummary;
  baseline?: MetricSummary;
  gate?: GateDecision;
  promoted?: RunState['promoted'];
  snapshot?: SnapshotManifest['counts'];
  error?: RunState['error'];
  reportKey: string;
}

/** Writes the run report under runs/<runId>/report.json, whatever the outcome. */
export async function recordStep(blobs: BlobStore, outcome: RunOutcome, state: RunState, now = new Date()): Promise<RunReport> {
  const reportKey = `runs/${state.runId}/report.json`;
  const report: RunReport = {
    runId: state.runId,
    outcome,
    finishedAt: now.toISOString(),
    reportKey,
    ...(state.candidate ? { candidate: state.candidate } : {}),
    ...(state.evaluation ? { metrics: state.evaluation.model, baseline: state.evaluation.baseline } : {}),
    ...(state.gate ? { gate: state.gate } : {}),
    ...(state.promoted ? { promoted: state.promoted } : {}),
    ...(state.snapshot ? { snapshot: state.snapshot.counts } : {}),
    ...(state.error ? { error: state.error } : {}),
  };
  await blobs.putJson(reportKey, report);
  return report;
}
