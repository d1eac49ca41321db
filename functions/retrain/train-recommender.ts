import { RECOMMENDER_FAMILY } from '../../models/recommender/contract';
import { logger, metrics } from '../../shared/observability/powertools';
import { jobHandler } from '../../shared/observability/job';
import { dataBlobs } from '../../shared/training/deps';
import { tagRun } from '../../shared/training/observe';
import type { RunState } from '../../shared/training/pipeline';
import { trainRecommenderCandidate } from '../../shared/training/trainers/recommender';

const blobs = dataBlobs();

/** Retraining step 2 (Lambda path): trains the recommender candidate and exports it as ONNX. The Fargate path runs the same function. */
export const handler = jobHandler(async (state: RunState) => {
  tagRun(state, RECOMMENDER_FAMILY);
  const card = await trainRecommenderCandidate(blobs, state, 'lambda');
  metrics.addMetric('TrainingSeconds', 'Seconds', card.trainingSeconds);
  logger.info('recommender trained', { trainingSeconds: card.trainingSeconds, data: card.data, hyperparameters: card.hyperparameters });
  return { family: card.family, version: card.version, trainingSeconds: card.trainingSeconds };
});
