/**
 * The heavy steps of one family in the retraining run — TrainCandidate and EvaluateCandidate (and
 * the Fargate training container) — for ANY family: each loads the family's trainer
 * (models/trainers.ts) and calls it with the run's context for that family.
 */
import type { RunContext } from '../families/contract';
import { getFamily } from '../../models/families';
import { loadTrainer } from '../../models/trainers';
import { servingSignatureProblems } from '../families/serving';
import { createSession, describeSession } from '../onnx/session';
import { ModelRegistry } from '../registry/registry';
import type { BlobStore } from '../storage/blob';
import { type FamilyEvaluation, type FamilyTask, type RunState, requireSnapshot } from './run';

/** Largest evaluation a family may return (all families' evaluations share the execution's 256 KB). */
export const MAX_EVALUATION_BYTES = 16 * 1024;

/** What the family's trainer sees of the run. */
export function runContextOf(run: RunState, family: string): RunContext {
  getFamily(family);
  const policy = run.config.policies[family];
  if (!policy) throw new Error(`run ${run.runId} has no gate policy for family ${family}`);
  return {
    runId: run.runId,
    candidateVersion: run.candidateVersion,
    snapshot: requireSnapshot(run),
    hyperparameters: run.config.hyperparameters[family] ?? {},
    policy,
  };
}

export interface TrainedSummary {
  version: string;
  trainingSeconds: number;
  compute: string;
}

/** Trains the family's candidate of this run (idempotent per version: the trainer returns the card it finds), then checks its served artifact against the family's contract. */
export async function trainCandidate(blobs: BlobStore, run: RunState, family: string, compute: string, now = new Date()): Promise<TrainedSummary> {
  const trainer = await loadTrainer(family);
  const card = await trainer.train({ blobs, registry: new ModelRegistry(blobs), run: runContextOf(run, family), compute, now });
  if (card.family !== family || card.version !== run.candidateVersion) {
    throw new Error(`the ${family} trainer wrote card ${card.family}/${card.version}, expected ${family}/${run.candidateVersion}`);
  }
  // A version id names a run (start second + run id fragment): a card from another snapshot is another run's model.
  if (card.data.snapshot !== run.snapshot?.runId) {
    throw new Error(
      `${family}/${card.version} already holds a model trained on snapshot ${card.data.snapshot}, not this run's ${run.snapshot?.runId}: version ids collided; start the run again under another name`,
    );
  }
  // Whatever the trainer did, the served artifact must meet the family's serving contract before it can
  // be judged: the declared signature (shared/families/serving.ts), then the family's own golden runs.
  const registry = new ModelRegistry(blobs);
  const served = await registry.getModelBytes(family, card.version, 'model.onnx');
  if (!served) throw new Error(`the ${family} trainer wrote no model.onnx for ${card.version}`);
  const session = await createSession(served);
  let problems: string[];
  try {
    problems = servingSignatureProblems(getFamily(family).serving, describeSession(session));
  } finally {
    await session.release();
  }
  if (problems.length === 0) {
    const check = await trainer.checkArtifact(served, { items: card.data.items });
    if (!check.ok) problems = check.reasons;
  }
  if (problems.length) {
    // The version stays in the registry (versions are immutable): its card says it must never be promoted.
    if (!card.gate) await registry.putCard({ ...card, gate: { passed: false, reasons: problems.map((p) => `serving contract: ${p}`) } });
    throw new Error(`${family}/${card.version} breaks the ${family} serving contract: ${problems.join('; ')}`);
  }
  return { version: card.version, trainingSeconds: card.trainingSeconds, compute: card.compute ?? compute };
}

/** Scores the family's candidate, its champion and its baseline on the same cases. Read only. */
export async function evaluateCandidate(blobs: BlobStore, task: FamilyTask): Promise<FamilyEvaluation> {
  const { family, run } = task;
  const registry = new ModelRegistry(blobs);
  const card = await registry.getCard(family, run.candidateVersion);
  if (!card) throw new Error(`candidate ${family}/${run.candidateVersion} has no model card: its training did not finish`);
  const trainer = await loadTrainer(family);
  const scores = await trainer.evaluate({ blobs, registry, run: runContextOf(run, family), card });
  // The evaluation travels in the state machine's state (256 KB for the whole run): keep it a summary.
  const size = Buffer.byteLength(JSON.stringify(scores));
  if (size > MAX_EVALUATION_BYTES) {
    throw new Error(`the ${family} evaluation is ${size} bytes, more than ${MAX_EVALUATION_BYTES}: report summary metrics and write details to S3`);
  }
  const compute = (card as { compute?: string }).compute ?? task.trained?.compute ?? 'unknown';
  return {
    family,
    candidate: { version: card.version, trainingSeconds: card.trainingSeconds, compute, hyperparameters: card.hyperparameters },
    ...scores,
  };
}
