import { logger } from '../../shared/observability/powertools';
import { jobHandler } from '../../shared/observability/job';
import { dataBlobs } from '../../shared/training/deps';
import { type RunState, trainStep } from '../../shared/training/pipeline';

const blobs = dataBlobs();

export const handler = jobHandler(async (state: RunState) => {
  const next = await trainStep(blobs, state);
  logger.info('recommender trained', { runId: state.runId, candidate: next.candidate });
  return next;
});
