/**
 * Run reports in the data bucket:
 *
 *   runs/<runId>/report.json    the report (also the state machine's output)
 *   runs/<runId>/report.html    the page people read (./html)
 *   runs/index/<inverted start time>-<runId>.json   a small summary; S3 lists keys in ascending
 *                                                   order, so the newest run comes first and a page
 *                                                   of runs is one LIST plus one GET per run
 *
 * Every key is derived from the run (id, start time), so a retried RecordRun rewrites the same objects.
 */
import { familyNames, getFamily, hasFamily } from '../../models/families';
import { ModelRegistry } from '../registry/registry';
import type { BlobStore } from '../storage/blob';
import { type FamilyHistory, type RunReportHistory, renderRunReportHtml } from './html';
import type { FamilyOutcome, RunState } from '../training/run';
import { buildRunReport, type RecordEvent, type RunReport } from './run-report';

export type { FamilyHistory, RunReportHistory };

export const RUN_INDEX_PREFIX = 'runs/index/';
const MAX_MS = 9_999_999_999_999;

export interface RunSummary {
  runId: string;
  outcome: RunReport['outcome'];
  startedAt?: string;
  finishedAt: string;
  trigger?: string;
  /** Per family: its candidate, the gate's decision, and the metrics its presentation lists (the main metric first). */
  families: { family: string; version: string; passed?: boolean; promoted: boolean; failed?: boolean; mainMetric?: string; metrics: Record<string, number> }[];
  error?: string;
  reportKey: string;
  htmlKey: string;
}

export function runIndexKey(report: Pick<RunReport, 'runId' | 'startedAt' | 'finishedAt'>): string {
  const ms = Date.parse(report.startedAt ?? report.finishedAt);
  const inverted = String(MAX_MS - (Number.isFinite(ms) ? ms : 0)).padStart(13, '0');
  return `${RUN_INDEX_PREFIX}${inverted}-${report.runId}.json`;
}

export function summarise(report: RunReport): RunSummary {
  return {
    runId: report.runId,
    outcome: report.outcome,
    ...(report.startedAt ? { startedAt: report.startedAt } : {}),
    finishedAt: report.finishedAt,
    ...(report.trigger ? { trigger: report.trigger } : {}),
    families: report.families.map((f) => {
      const main = f.policy?.mainMetric;
      const shown = [...new Set([...(main ? [main] : []), ...(f.presentation?.metrics ?? [])])];
      return {
        family: f.family,
        version: f.candidate.version,
        ...(f.gate ? { passed: f.gate.passed } : {}),
        promoted: f.promoted !== undefined,
        ...(f.error ? { failed: true } : {}),
        ...(main ? { mainMetric: main } : {}),
        metrics: Object.fromEntries(shown.filter((m) => typeof f.metrics[m] === 'number').map((m) => [m, f.metrics[m] as number])),
      };
    }),
    ...(report.error?.Error ? { error: report.error.Error } : {}),
    reportKey: report.reportKey,
    htmlKey: report.htmlKey,
  };
}

/** Reads the last `limit` versions of each family (cards) and the champion alias history from the registry. */
export async function loadHistory(blobs: BlobStore, families: readonly string[] = familyNames(), limit = 30): Promise<RunReportHistory> {
  const registry = new ModelRegistry(blobs);
  return Promise.all(
    families.map(async (family): Promise<FamilyHistory> => {
      const [versions, champion, moves] = await Promise.all([
        registry.listVersions(family),
        registry.getAlias(family, 'champion'),
        registry.getAliasHistory(family, 'champion', limit),
      ]);
      const recent = versions.slice(-limit);
      const cards = await Promise.all(recent.map((v) => registry.getCard(family, v)));
      return {
        family,
        ...(hasFamily(family) ? { presentation: getFamily(family).presentation, policy: getFamily(family).policy } : {}),
        versions: recent.map((version, i) => {
          const card = cards[i] as (NonNullable<(typeof cards)[number]> & { compute?: string }) | undefined;
          return {
            version,
            ...(card?.createdAt ? { createdAt: card.createdAt } : {}),
            ...(card?.metrics ? { metrics: card.metrics } : {}),
            ...(card?.baseline ? { baseline: card.baseline } : {}),
            ...(card?.gate ? { gate: card.gate } : {}),
            ...(card?.compute ? { compute: card.compute } : {}),
          };
        }),
        ...(champion ? { champion: champion.version } : {}),
        championMoves: moves.map((m) => ({ version: m.version, updatedAt: m.updatedAt, reason: m.reason, ...(m.previous ? { previous: m.previous } : {}) })),
      };
    }),
  );
}

/** Writes report.json, report.html and the index entry of a run. */
export async function writeRunReport(blobs: BlobStore, report: RunReport, history?: RunReportHistory): Promise<void> {
  const families = report.families.length ? report.families.map((f) => f.family) : (report.config?.families ?? familyNames());
  const html = renderRunReportHtml(report, history ?? (await loadHistory(blobs, families)));
  await blobs.putJson(report.reportKey, report);
  await blobs.putBytes(report.htmlKey, Buffer.from(html, 'utf8'), 'text/html; charset=utf-8');
  await blobs.putJson(runIndexKey(report), summarise(report));
}

/**
 * When the TrainFamilies Map failed as a whole (its Catch keeps no iteration's output), what each
 * family reached is read back from the registry: the candidate's card (evaluation and gate decision)
 * and whether the champion alias moved to it. Nothing is invented: a family without a card is a failure.
 */
export async function recoverResults(blobs: BlobStore, run: Partial<RunState>): Promise<FamilyOutcome[]> {
  if (run.results || !run.trainable?.length || !run.candidateVersion) return run.results ?? [];
  const registry = new ModelRegistry(blobs);
  const version = run.candidateVersion;
  return Promise.all(
    run.trainable.map(async ({ family, compute }): Promise<FamilyOutcome> => {
      const [card, champion] = await Promise.all([registry.getCard(family, version), registry.getAlias(family, 'champion')]);
      const error = {
        Error: run.error?.Error ?? 'RunFailed',
        Cause: `the run failed before this family's result was recorded (${run.error?.Error ?? 'unknown error'}); recovered from the registry`,
      };
      if (!card?.metrics || !card.baseline || !card.holdout) return { family, error };
      const promoted = champion?.version === version;
      return {
        family,
        evaluation: {
          family,
          candidate: {
            version,
            trainingSeconds: card.trainingSeconds,
            compute: (card as { compute?: string }).compute ?? compute,
            hyperparameters: card.hyperparameters,
          },
          metrics: card.metrics,
          baseline: card.baseline,
          // The champion's scores only when the card says which of its artifacts was scored (nothing is guessed).
          ...(card.champion?.artifact
            ? { champion: { version: card.champion.version, metrics: card.champion.metrics, artifact: card.champion.artifact } }
            : {}),
          cases: card.holdout.cases,
        },
        ...(card.gate
          ? {
              gate: { family, ...card.gate, policy: run.config?.policies[family] ?? getFamily(family).policy, championVersion: card.champion?.version ?? null },
            }
          : {}),
        ...(promoted ? { promotion: { family, version, ...(champion?.previous ? { previous: champion.previous } : {}) } } : { error }),
      };
    }),
  );
}

/** The RecordRun task: builds the run report from the state machine's state and writes it, whatever the outcome. */
export async function recordRun(blobs: BlobStore, event: RecordEvent, now = new Date(), history?: RunReportHistory): Promise<RunReport> {
  const results = await recoverResults(blobs, event.run);
  const report = buildRunReport({ ...event, run: { ...event.run, ...(results.length ? { results } : {}) } }, now);
  await writeRunReport(blobs, report, history);
  return report;
}

export interface RunPage {
  runs: RunSummary[];
  /** Pass as `cursor` for the next (older) page; absent on the last page. */
  nextCursor?: string;
}

/**
 * A page of runs, newest first. `cursor` is the last index key of the previous page. The index is
 * listed whole (one LIST per 1000 runs) and paged here: a page never depends on S3's continuation
 * tokens, which s3rver cannot produce on OpenSSL 3 (it ciphers them with DES).
 */
export async function listRuns(blobs: BlobStore, options: { limit: number; cursor?: string }): Promise<RunPage> {
  const all = await blobs.listKeys(RUN_INDEX_PREFIX);
  const start = options.cursor ? all.findIndex((k) => k > (options.cursor as string)) : 0;
  const keys = start < 0 ? [] : all.slice(start, start + options.limit);
  const summaries = await Promise.all(keys.map((k) => blobs.getJson<RunSummary>(k)));
  const runs = summaries.filter((s): s is RunSummary => s !== undefined);
  const last = keys.at(-1);
  const more = start >= 0 && start + options.limit < all.length;
  return { runs, ...(more && last ? { nextCursor: last } : {}) };
}

/** The HTML report of a run, or undefined when there is none. */
export async function readRunReportHtml(blobs: BlobStore, runId: string): Promise<string | undefined> {
  const bytes = await blobs.getBytes(`runs/${runId}/report.html`);
  return bytes ? Buffer.from(bytes).toString('utf8') : undefined;
}
