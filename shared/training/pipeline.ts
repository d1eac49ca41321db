/**
 * The light steps of the retraining state machine: PrepareSnapshot (once), then per family in the
 * TrainFamilies Map state GateCandidate and PromoteModel, and RecordRun (once). They read a family
 * only through its descriptor (models/families.ts); nothing here reaches onnxruntime-node or
 * tfjs (the train and evaluate steps load the family's trainer), so these Lambdas ship without the
 * native runtime.
 */
import { randomUUID } from 'node:crypto';
import type { MergeRedirects } from '../identity/redirects';
import { getFamily } from '../../models/families';
import { gateAgainstChampion, withCases } from '../registry/gate';
import { ModelRegistry, newVersionId } from '../registry/registry';
import type { BlobStore } from '../storage/blob';
import {
  type FamilyGate,
  type FamilyPlan,
  type FamilyTask,
  type Promotion,
  type RunConfig,
  type RunState,
  requireSnapshot,
  resolveRunConfig,
  runKeys,
  safeRunId,
} from './run';
import { missingTables, prepareSnapshot, type SnapshotManifest } from '../snapshots/snapshot';

export * from './run';

/** What the PrepareSnapshot task receives: the execution input and the execution's identity. */
export interface PrepareEvent {
  request?: unknown;
  /** The execution name: the run id (a retry of the task gets the same one). */
  runId?: string;
  /** The execution start time. */
  startedAt?: string;
}

/** Thrown when the configuration cannot train a snapshot of this size. */
export class TrainingComputeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainingComputeUnavailable';
  }
}

/**
 * Validates the request, resolves the run's configuration, writes the point-in-time snapshot and
 * the run state (the training container's input) under the run id. Idempotent per run id.
 */
export async function prepareStep(
  blobs: BlobStore,
  event: PrepareEvent,
  defaults: RunConfig,
  now = new Date(),
  /** Merge redirects (absorbed profile → survivor) read by the caller: a merged shopper is one user. */
  redirects?: MergeRedirects,
): Promise<RunState> {
  const { request, config } = resolveRunConfig(event.request, defaults);
  const startedAt = event.startedAt ? new Date(event.startedAt) : now;
  if (Number.isNaN(startedAt.getTime())) throw new Error(`startedAt "${event.startedAt}" is not a date`);
  const runId = safeRunId(event.runId ?? `${now.toISOString().replace(/[-:.]/g, '')}-${randomUUID().slice(0, 8)}`);
  const snapshot = await prepareSnapshot(blobs, {
    runId,
    ...(request.asOf ? { asOf: request.asOf } : {}),
    holdoutDays: config.holdoutDays,
    ...(redirects ? { redirects } : {}),
  });
  const plan = planFamilies(snapshot, config);
  const trainable = plan.filter((p) => p.enough).map((p) => ({ family: p.family, compute: p.compute }));
  // A family that cannot be planned fails alone (reported, notified) unless no family is left to train.
  const failed = plan.filter((p) => p.failed);
  if (failed.length && trainable.length === 0) {
    throw new TrainingComputeError(failed.map((p) => `${p.family}: ${p.reason}`).join('; '));
  }
  const state: RunState = {
    runId,
    startedAt: startedAt.toISOString(),
    ...(request.trigger ? { trigger: request.trigger } : {}),
    ...(request.asOf ? { asOf: request.asOf } : {}),
    config,
    candidateVersion: newVersionId(startedAt, runId),
    stateKey: runKeys(runId).state,
    snapshot,
    plan,
    trainable,
    enoughData: trainable.length > 0,
  };
  await blobs.putJson(state.stateKey, state);
  return state;
}

/**
 * Each enabled family's sufficiency and compute, by the same rule for every family. A family whose
 * checks throw, or that must train on Fargate where no network is configured, is `failed` with the
 * reason — it alone: the others are planned as usual.
 */
export function planFamilies(snapshot: SnapshotManifest, config: RunConfig): FamilyPlan[] {
  const { fargate, fargateAboveInteractions } = config.compute;
  const fargateReady = fargate.subnets.length > 0 && fargate.securityGroups.length > 0;
  return config.families.map((name): FamilyPlan => {
    const family = getFamily(name);
    const hyperparameters = config.hyperparameters[name] ?? {};
    let size = snapshot.counts.interactions;
    try {
      size = family.computeSize?.(snapshot) ?? size;
      const missing = missingTables(snapshot, family.snapshotNeeds);
      const sufficiency = missing.length
        ? { enough: false as const, reason: `the snapshot has no ${missing.join(', ')} table (it needs ${family.snapshotNeeds.join(', ')})` }
        : family.sufficiency(snapshot, { minHoldoutUsers: config.minHoldoutUsers, hyperparameters });
      const compute = size > fargateAboveInteractions ? 'fargate' : 'lambda';
      if (sufficiency.enough && compute === 'fargate' && !fargateReady) {
        const reason = `training size ${size} is above compute.fargateAboveInteractions = ${fargateAboveInteractions}, so it must train on ECS Fargate, but TRAINING_SUBNETS and TRAINING_SECURITY_GROUPS are not both set`;
        return { family: name, enough: false, failed: true, reason, compute, size };
      }
      return { family: name, enough: sufficiency.enough, ...(sufficiency.enough ? {} : { reason: sufficiency.reason }), compute, size };
    } catch (error) {
      return { family: name, enough: false, failed: true, reason: `planning failed: ${(error as Error).message}`, compute: 'lambda', size };
    }
  });
}

/**
 * Applies the family's gate to its evaluation (candidate vs champion vs baseline, same cases) with
 * the run's policy for it, and writes the candidate's model card with the decision. A champion that
 * exists but could not be scored fails the gate: nothing is promoted on a comparison that was not made.
 */
export async function gateStep(blobs: BlobStore, task: FamilyTask): Promise<FamilyGate> {
  const { evaluation, run } = task;
  if (!evaluation) throw new Error(`family ${task.family}: no evaluation in the task input: EvaluateCandidate must run first`);
  const policy = run.config.policies[task.family];
  if (!policy) throw new Error(`no gate policy for family ${task.family}`);
  const registry = new ModelRegistry(blobs);
  const { cases } = evaluation;
  const decision = gateAgainstChampion(
    withCases(evaluation.metrics, cases),
    evaluation.champion ? withCases(evaluation.champion.metrics, cases) : null,
    withCases(evaluation.baseline, cases),
    policy,
  );
  const reasons = [...decision.reasons];
  let passed = decision.passed;
  let championVersion = evaluation.champion?.version ?? null;
  if (evaluation.championNotComparable) {
    passed = false;
    reasons.unshift(`not compared with the champion: ${evaluation.championNotComparable}`);
    championVersion = (await registry.getAlias(task.family, 'champion'))?.version ?? null;
  }
  const gate: FamilyGate = { family: task.family, passed, reasons, policy, championVersion };
  const card = await registry.getCard(task.family, evaluation.candidate.version);
  if (!card) throw new Error(`candidate ${task.family}/${evaluation.candidate.version} has no model card`);
  const snapshot = requireSnapshot(run);
  await registry.putCard({
    ...card,
    metrics: evaluation.metrics,
    baseline: evaluation.baseline,
    ...(evaluation.champion
      ? { champion: { version: evaluation.champion.version, metrics: evaluation.champion.metrics, artifact: evaluation.champion.artifact } }
      : {}),
    holdout: { snapshot: snapshot.runId, asOf: snapshot.asOf, holdoutStart: snapshot.holdoutStart, cases: evaluation.cases },
    gate: { passed: gate.passed, reasons: gate.reasons },
  });
  return gate;
}

/**
 * Moves the family's champion alias to its candidate, only from the champion the candidate was
 * judged against (compare-and-set: a champion moved meanwhile fails the task with AliasConflictError
 * and nothing is overwritten). A retry after the move finds the alias already on the candidate.
 */
export async function promoteStep(blobs: BlobStore, task: FamilyTask, now = new Date()): Promise<Promotion> {
  const gate = task.gate;
  if (!gate?.passed) throw new Error(`family ${task.family}: only a candidate that passed the gate can be promoted`);
  const registry = new ModelRegistry(blobs);
  const reason = `run ${task.run.runId}: ${gate.reasons.join('; ')}`;
  const pointer = await registry.compareAndSetAlias(task.family, 'champion', gate.championVersion, task.run.candidateVersion, reason, now);
  return { family: task.family, version: pointer.version, ...(pointer.previous ? { previous: pointer.previous } : {}) };
}
