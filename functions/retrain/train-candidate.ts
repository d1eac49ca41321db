import { logger, metrics } from '../../shared/observability/powertools';
import { jobHandler } from '../../shared/observability/job';
import { dataBlobs } from '../../shared/training/deps';
import { trainCandidate } from '../../shared/training/family-steps';
import { tagRun } from '../../shared/training/observe';
import type { FamilyTask } from '../../shared/training/run';

const blobs = dataBlobs();

/**
 * Retraining, per family (TrainFamilies Map state), Lambda path: trains the family's candidate and
 * exports it as ONNX through the family's trainer. The Fargate path runs the same function.
 */
export const handler = jobHandler(async (task: FamilyTask) => {
  tagRun(task.run, task.family);
  const trained = await trainCandidate(blobs, task.run, task.family, 'lambda');
  metrics.addMetric('TrainingSeconds', 'Seconds', trained.trainingSeconds);
  logger.info('candidate trained', { ...trained });
  return trained;
});
