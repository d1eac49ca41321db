import { logger } from '../../shared/observability/powertools';
import { jobHandler } from '../../shared/observability/job';
import { dataBlobs } from '../../shared/training/deps';
import { promoteStep, type RunState } from '../../shared/training/pipeline';

const blobs = dataBlobs();

export const handler = jobHandler(async (state: RunState) => {
  const next = await promoteStep(blobs, state);
  logger.info('champion moved', { runId: state.runId, modelVersion: next.promoted?.version, previous: next.promoted?.previous });
  return next;
});
