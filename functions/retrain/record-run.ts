import { logger, metrics } from '../../shared/observability/powertools';
import { jobHandler } from '../../shared/observability/job';
import { dataBlobs } from '../../shared/training/deps';
import { type RunOutcome, type RunState, recordStep } from '../../shared/training/pipeline';

const blobs = dataBlobs();

export const handler = jobHandler(async (input: { outcome: RunOutcome; run: RunState }) => {
  const now = new Date();
  // A run that failed before PrepareSnapshot named it still gets a report.
  const run: RunState = { ...input.run, runId: input.run.runId ?? `failed-${now.toISOString().replace(/[-:.]/g, '')}` };
  const report = await recordStep(blobs, input.outcome, run, now);
  metrics.addMetric(`Retrain_${input.outcome}`, 'Count', 1);
  const log = input.outcome === 'failed' ? logger.error.bind(logger) : logger.info.bind(logger);
  log('retraining run finished', { runId: run.runId, outcome: input.outcome, reportKey: report.reportKey, error: run.error });
  return report;
});
