import { logger, metrics } from '../../shared/observability/powertools';
import { jobHandler } from '../../shared/observability/job';
import { dataBlobs } from '../../shared/training/deps';
import { tagRun } from '../../shared/training/observe';
import { promoteStep } from '../../shared/training/pipeline';
import type { FamilyTask } from '../../shared/training/run';

const blobs = dataBlobs();

/** Retraining, per family: moves the family's champion alias to its passing candidate, only from the champion it was judged against. */
export const handler = jobHandler(async (task: FamilyTask) => {
  tagRun(task.run, task.family);
  const promotion = await promoteStep(blobs, task);
  metrics.addMetric('ChampionMoved', 'Count', 1);
  logger.info('champion moved', { modelVersion: promotion.version, previous: promotion.previous });
  return promotion;
});
