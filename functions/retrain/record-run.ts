import { logger, metrics } from '../../shared/observability/powertools';
import { jobHandler } from '../../shared/observability/job';
import { dataBlobs } from '../../shared/training/deps';
import { tagRun } from '../../shared/training/observe';
import { type RecordEvent, recordStep } from '../../shared/training/pipeline';

const blobs = dataBlobs();

/** Writes the run report (JSON, HTML, index entry) whatever the outcome: promoted, rejected, skipped or failed. */
export const handler = jobHandler(async (event: RecordEvent) => {
  tagRun(event.run ?? {});
  const report = await recordStep(blobs, { ...event, run: event.run ?? {} });
  const run = metrics.singleMetric();
  run.addDimension('outcome', report.outcome);
  run.addMetric('RetrainRuns', 'Count', 1);
  for (const f of report.families) {
    const champion = f.champion?.metrics['NDCG@10'];
    const candidate = f.metrics['NDCG@10'];
    if (champion === undefined || candidate === undefined) continue;
    const single = metrics.singleMetric();
    single.addDimensions({ modelFamily: f.family, modelVersion: f.candidate.version });
    single.addMetric('NDCG10GainOverChampion', 'None', candidate - champion);
  }
  const log = report.outcome === 'failed' ? logger.error.bind(logger) : logger.info.bind(logger);
  log('retraining run finished', { runId: report.runId, outcome: report.outcome, reportKey: report.reportKey, htmlKey: report.htmlKey, error: report.error });
  return report;
});
