/**
 * The light steps of the retraining state machine: PrepareSnapshot, GateCandidates, PromoteModel and
 * RecordRun. Nothing here reaches onnxruntime-node or tfjs (the per-family train and evaluate steps
 * live in ./trainers/), so these Lambdas ship without the native runtime.
 */
import { randomUUID } from 'node:crypto';
import type { MergeRedirects } from '../identity/redirects';
import { gateAgainstChampion } from '../registry/gate';
import { ModelRegistry, newVersionId } from '../registry/registry';
import { type RunReportHistory, writeRunReport } from '../reports/runs';
import type { BlobStore } from '../storage/blob';
import { PRIMARY_FAMILY } from './families';
import { type FamilyGate, type Promotion, type RunConfig, type RunState, requireSnapshot, resolveRunConfig, runKeys } from './run';
import { prepareSnapshot } from './snapshot';

export * from './run';

/** What the PrepareSnapshot task receives: the execution input and the execution's identity. */
export interface PrepareEvent {
  request?: unknown;
  /** The execution name: the run id (a retry of the task gets the same one). */
  runId?: string;
  /** The execution start time. */
  startedAt?: string;
}

const safeRunId = (raw: string) => raw.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 80);

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
  const enoughData = snapshot.counts.holdoutUsers >= config.minHoldoutUsers && snapshot.counts.items >= 10;
  const { fargate } = config.compute;
  if (
    enoughData &&
    snapshot.counts.interactions > config.compute.fargateAboveInteractions &&
    (fargate.subnets.length === 0 || fargate.securityGroups.length === 0)
  ) {
    throw new TrainingComputeError(
      `snapshot has ${snapshot.counts.interactions} interactions, above compute.fargateAboveInteractions = ${config.compute.fargateAboveInteractions}, ` +
        'so it must train on ECS Fargate, but TRAINING_SUBNETS and TRAINING_SECURITY_GROUPS are not both set',
    );
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
    enoughData,
  };
  await blobs.putJson(state.stateKey, state);
  return state;
}

/**
 * Applies each family's gate to its evaluation (candidate vs champion vs popularity, same holdout)
 * and writes each candidate's model card with the decision. A champion that exists but could not be
 * scored fails the gate: nothing is promoted on a comparison that was not made.
 */
export async function gateStep(blobs: BlobStore, state: RunState): Promise<RunState> {
  const evaluations = state.families ?? [];
  if (evaluations.length === 0) throw new Error('run state has no family evaluations: TrainAndEvaluate must run first');
  const registry = new ModelRegistry(blobs);
  const families: FamilyGate[] = [];
  for (const evaluation of evaluations) {
    const policy = state.config.policies[evaluation.family];
    if (!policy) throw new Error(`no gate policy for family ${evaluation.family}`);
    const decision = gateAgainstChampion(evaluation.metrics, evaluation.champion?.metrics ?? null, evaluation.baseline, policy);
    const reasons = [...decision.reasons];
    let passed = decision.passed;
    if (evaluation.championNotComparable) {
      passed = false;
      reasons.unshift(`not compared with the champion: ${evaluation.championNotComparable}`);
    }
    const gate: FamilyGate = { family: evaluation.family, passed, reasons, policy, championVersion: evaluation.champion?.version ?? null };
    if (evaluation.championNotComparable) {
      const alias = await registry.getAlias(evaluation.family, 'champion');
      gate.championVersion = alias?.version ?? null;
    }
    families.push(gate);
    const card = await registry.getCard(evaluation.family, evaluation.candidate.version);
    if (!card) throw new Error(`candidate ${evaluation.family}/${evaluation.candidate.version} has no model card`);
    const snapshot = requireSnapshot(state);
    await registry.putCard({
      ...card,
      metrics: evaluation.metrics,
      baseline: evaluation.baseline,
      ...(evaluation.champion ? { champion: { version: evaluation.champion.version, metrics: evaluation.champion.metrics } } : {}),
      holdout: { snapshot: snapshot.runId, asOf: snapshot.asOf, holdoutStart: snapshot.holdoutStart, cases: evaluation.cases },
      gate: { passed: gate.passed, reasons: gate.reasons },
    });
  }
  return { ...state, gate: { passed: families.some((f) => f.passed), families } };
}

/**
 * Moves each passing family's champion alias to its candidate, only from the champion the candidate
 * was judged against (compare-and-set: a champion moved meanwhile fails the task with
 * AliasConflictError and nothing is overwritten). A retry after a partial promotion finds the alias
 * already on the candidate and leaves it.
 */
export async function promoteStep(blobs: BlobStore, state: RunState, now = new Date()): Promise<RunState> {
  const passing = (state.gate?.families ?? []).filter((f) => f.passed);
  if (passing.length === 0) throw new Error('only candidates that passed the gate can be promoted');
  const registry = new ModelRegistry(blobs);
  const promotions: Promotion[] = [];
  for (const gate of passing) {
    const reason = `run ${state.runId}: ${gate.reasons.join('; ')}`;
    const pointer = await registry.compareAndSetAlias(gate.family, 'champion', gate.championVersion, state.candidateVersion, reason, now);
    promotions.push({ family: gate.family, version: pointer.version, ...(pointer.previous ? { previous: pointer.previous } : {}) });
  }
  return { ...state, promotions };
}

export type RunOutcome = 'promoted' | 'rejected' | 'skipped' | 'failed';

/** One family's part of a run report. */
export interface FamilyReport {
  family: string;
  candidate: { family: string; version: string; trainingSeconds: number; compute: string };
  metrics: Record<string, number>;
  baseline: Record<string, number>;
  champion?: { version: string; artifact: string; metrics: Record<string, number> };
  championNotComparable?: string;
  cases: number;
  gate?: { passed: boolean; reasons: string[] };
  promoted?: Promotion;
}

/**
 * The run report (runs/<runId>/report.json and the state machine's output). The top-level
 * candidate/metrics/baseline/gate/promoted fields repeat the primary family's (`recommender`) for
 * readers written before there were several families.
 */
export interface RunReport {
  runId: string;
  outcome: RunOutcome;
  startedAt?: string;
  finishedAt: string;
  trigger?: string;
  reportKey: string;
  htmlKey: string;
  snapshot?: { asOf: string; holdoutStart: string } & NonNullable<RunState['snapshot']>['counts'];
  config?: RunConfig;
  families: FamilyReport[];
  candidate?: { family: string; version: string; trainingSeconds: number };
  metrics?: Record<string, number>;
  baseline?: Record<string, number>;
  gate?: { passed: boolean; reasons: string[] };
  promoted?: Promotion;
  error?: { Error?: string; Cause?: string };
}

/** What the RecordRun task receives. */
export interface RecordEvent {
  outcome: RunOutcome;
  run: Partial<RunState>;
  /** The execution name (the run id when PrepareSnapshot never ran). */
  executionName?: string;
  /** The execution start time (the run's start when PrepareSnapshot never ran). */
  startedAt?: string;
}

export function buildRunReport(event: RecordEvent, now: Date): RunReport {
  const run = event.run;
  const runId = run.runId ?? safeRunId(event.executionName ?? `failed-${now.toISOString().replace(/[-:.]/g, '')}`);
  const keys = runKeys(runId);
  const gates = new Map((run.gate?.families ?? []).map((g) => [g.family, g]));
  const promotions = new Map((run.promotions ?? []).map((p) => [p.family, p]));
  const families: FamilyReport[] = (run.families ?? []).map((e) => {
    const gate = gates.get(e.family);
    const promoted = promotions.get(e.family);
    return {
      family: e.family,
      candidate: { family: e.family, version: e.candidate.version, trainingSeconds: e.candidate.trainingSeconds, compute: e.candidate.compute },
      metrics: e.metrics,
      baseline: e.baseline,
      ...(e.champion ? { champion: e.champion } : {}),
      ...(e.championNotComparable ? { championNotComparable: e.championNotComparable } : {}),
      cases: e.cases,
      ...(gate ? { gate: { passed: gate.passed, reasons: gate.reasons } } : {}),
      ...(promoted ? { promoted } : {}),
    };
  });
  const primary = families.find((f) => f.family === PRIMARY_FAMILY);
  const snapshot = run.snapshot;
  const startedAt = run.startedAt ?? event.startedAt;
  return {
    runId,
    outcome: event.outcome,
    ...(startedAt ? { startedAt } : {}),
    finishedAt: now.toISOString(),
    ...(run.trigger ? { trigger: run.trigger } : {}),
    reportKey: keys.report,
    htmlKey: keys.html,
    ...(snapshot ? { snapshot: { asOf: snapshot.asOf, holdoutStart: snapshot.holdoutStart, ...snapshot.counts } } : {}),
    ...(run.config ? { config: run.config } : {}),
    families,
    ...(primary
      ? {
          candidate: { family: primary.family, version: primary.candidate.version, trainingSeconds: primary.candidate.trainingSeconds },
          metrics: primary.metrics,
          baseline: primary.baseline,
          ...(primary.gate ? { gate: primary.gate } : {}),
          ...(primary.promoted ? { promoted: primary.promoted } : {}),
        }
      : {}),
    ...(run.error ? { error: run.error } : {}),
  };
}

/** Writes the run report (JSON, HTML with the families' history, list index), whatever the outcome. */
export async function recordStep(blobs: BlobStore, event: RecordEvent, now = new Date(), history?: RunReportHistory): Promise<RunReport> {
  const report = buildRunReport(event, now);
  await writeRunReport(blobs, report, history);
  return report;
}
