/**
 * The run report: what one retraining run did, per family (trained, scored, gated, promoted or
 * failed), built by the RecordRun task from the state machine's state. Reports depend on the
 * training run's types, never the other way round.
 */
import { getFamily, hasFamily, PRIMARY_FAMILY } from '../../models/families';
import type { FamilyPresentation } from '../families/contract';
import type { GatePolicy } from '../registry/gate';
import type { FamilyOutcome, FamilyPlan, Promotion, RunConfig, RunState } from '../training/run';
import { runKeys, safeRunId } from '../training/run';

/**
 * promoted: at least one family's champion moved; rejected: every trained family was judged and
 * none passed; skipped: no family had enough data; failed: the run failed before any family was
 * judged, or every trained family failed.
 */
export type RunOutcome = 'promoted' | 'rejected' | 'skipped' | 'failed';

/** One family's part of a run report. */
export interface FamilyReport {
  family: string;
  /** How the family is shown and judged (from its descriptor and the run's policy). */
  presentation?: FamilyPresentation;
  policy?: GatePolicy;
  candidate: { family: string; version: string; trainingSeconds: number; compute: string };
  metrics: Record<string, number>;
  baseline: Record<string, number>;
  champion?: { version: string; artifact: string; metrics: Record<string, number> };
  championNotComparable?: string;
  cases: number;
  gate?: { passed: boolean; reasons: string[] };
  promoted?: Promotion;
  /** The family's task that failed (its champion is untouched). */
  error?: { Error?: string; Cause?: string };
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
  /** Per enabled family: whether it had enough data (and why not), and where it trained. */
  plan?: FamilyPlan[];
  families: FamilyReport[];
  /** Families whose tasks failed in this run (each listed in `families` with its error). */
  failedFamilies: string[];
  candidate?: { family: string; version: string; trainingSeconds: number };
  metrics?: Record<string, number>;
  baseline?: Record<string, number>;
  gate?: { passed: boolean; reasons: string[] };
  promoted?: Promotion;
  error?: { Error?: string; Cause?: string };
}

/** What the RecordRun task receives. */
export interface RecordEvent {
  /** Set by the state machine for skipped and failed runs; derived from the families' results otherwise. */
  outcome?: RunOutcome;
  run: Partial<RunState>;
  /** The execution name (the run id when PrepareSnapshot never ran). */
  executionName?: string;
  /** The execution start time (the run's start when PrepareSnapshot never ran). */
  startedAt?: string;
}

function familyReport(result: FamilyOutcome, run: Partial<RunState>): FamilyReport {
  const e = result.evaluation;
  const version = e?.candidate.version ?? run.candidateVersion ?? '';
  return {
    family: result.family,
    ...(hasFamily(result.family) ? { presentation: getFamily(result.family).presentation } : {}),
    ...(run.config?.policies[result.family] ? { policy: run.config.policies[result.family] } : {}),
    candidate: {
      family: result.family,
      version,
      trainingSeconds: e?.candidate.trainingSeconds ?? 0,
      compute: e?.candidate.compute ?? run.trainable?.find((t) => t.family === result.family)?.compute ?? 'unknown',
    },
    metrics: e?.metrics ?? {},
    baseline: e?.baseline ?? {},
    ...(e?.champion ? { champion: e.champion } : {}),
    ...(e?.championNotComparable ? { championNotComparable: e.championNotComparable } : {}),
    cases: e?.cases ?? 0,
    ...(result.gate ? { gate: { passed: result.gate.passed, reasons: result.gate.reasons } } : {}),
    ...(result.promotion ? { promoted: result.promotion } : {}),
    ...(result.error ? { error: result.error } : {}),
  };
}

export function outcomeOf(families: readonly FamilyReport[], given?: RunOutcome): RunOutcome {
  if (given) return given;
  if (families.length === 0) return 'skipped';
  if (families.some((f) => f.promoted)) return 'promoted';
  if (families.every((f) => f.error)) return 'failed';
  return 'rejected';
}

export function buildRunReport(event: RecordEvent, now: Date): RunReport {
  const run = event.run;
  const runId = run.runId ?? safeRunId(event.executionName ?? `failed-${now.toISOString().replace(/[-:.]/g, '')}`);
  const keys = runKeys(runId);
  const planned = (run.plan ?? []).filter((p) => p.failed).map((p) => ({ family: p.family, error: { Error: 'FamilyNotPlanned', Cause: p.reason ?? '' } }));
  const families = [...(run.results ?? []), ...planned].map((r) => familyReport(r, run));
  const primary = families.find((f) => f.family === PRIMARY_FAMILY && !f.error);
  const snapshot = run.snapshot;
  const startedAt = run.startedAt ?? event.startedAt;
  return {
    runId,
    outcome: outcomeOf(families, event.outcome),
    ...(startedAt ? { startedAt } : {}),
    finishedAt: now.toISOString(),
    ...(run.trigger ? { trigger: run.trigger } : {}),
    reportKey: keys.report,
    htmlKey: keys.html,
    ...(snapshot ? { snapshot: { asOf: snapshot.asOf, holdoutStart: snapshot.holdoutStart, ...snapshot.counts } } : {}),
    ...(run.config ? { config: run.config } : {}),
    ...(run.plan ? { plan: run.plan } : {}),
    families,
    failedFamilies: families.filter((f) => f.error).map((f) => f.family),
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
