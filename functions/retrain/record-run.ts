import { logger, metrics } from '../../shared/observability/powertools';
import { jobHandler } from '../../shared/observability/job';
import { metricDirection } from '../../shared/registry/gate';
import type { RecordEvent } from '../../shared/reports/run-report';
import { recordRun } from '../../shared/reports/runs';
import { dataBlobs } from '../../shared/training/deps';
import { tagRun } from '../../shared/training/observe';

const blobs = dataBlobs();

/** Writes the run report (JSON, HTML, index entry) whatever the outcome: promoted, rejected, skipped or failed, per family. */
export const handler = jobHandler(async (event: RecordEvent) => {
  tagRun(event.run ?? {});
  const report = await recordRun(blobs, { ...event, run: event.run ?? {} });
  const run = metrics.singleMetric();
  run.addDimension('outcome', report.outcome);
  run.addMetric('RetrainRuns', 'Count', 1);
  for (const f of report.families) {
    const main = f.policy?.mainMetric;
    const single = metrics.singleMetric();
    single.addDimensions({ modelFamily: f.family, modelVersion: f.candidate.version });
    if (f.error) {
      single.addMetric('FamilyFailed', 'Count', 1);
      continue;
    }
    const champion = main ? f.champion?.metrics[main] : undefined;
    const candidate = main ? f.metrics[main] : undefined;
    if (champion === undefined || candidate === undefined) continue;
    // In the main metric's better direction: positive = the candidate is better.
    const lower = f.policy && main ? metricDirection(f.policy, main) === 'lower' : false;
    single.addMetric('MainMetricGainOverChampion', 'None', lower ? champion - candidate : candidate - champion);
  }
  const log = report.outcome === 'failed' || report.failedFamilies.length ? logger.error.bind(logger) : logger.info.bind(logger);
  log('retraining run finished', {
    runId: report.runId,
    outcome: report.outcome,
    failedFamilies: report.failedFamilies,
    reportKey: report.reportKey,
    htmlKey: report.htmlKey,
    error: report.error,
  });
  return report;
});
