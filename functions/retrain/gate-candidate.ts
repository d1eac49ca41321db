import { logger, metrics } from '../../shared/observability/powertools';
import { jobHandler } from '../../shared/observability/job';
import { dataBlobs } from '../../shared/training/deps';
import { tagRun } from '../../shared/training/observe';
import { gateStep } from '../../shared/training/pipeline';
import type { FamilyTask } from '../../shared/training/run';

const blobs = dataBlobs();

/** Retraining, per family: the family's gate (candidate vs champion vs baseline); the decision goes on the model card. */
export const handler = jobHandler(async (task: FamilyTask) => {
  tagRun(task.run, task.family);
  const gate = await gateStep(blobs, task);
  metrics.addMetric('GatePassed', 'Count', gate.passed ? 1 : 0);
  logger.info('gate decided', { passed: gate.passed, reasons: gate.reasons, championVersion: gate.championVersion });
  return gate;
});
