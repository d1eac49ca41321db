import { logger } from '../../shared/observability/powertools';
import { jobHandler } from '../../shared/observability/job';
import { dataBlobs } from '../../shared/training/deps';
import { type PrepareInput, prepareStep } from '../../shared/training/pipeline';

const blobs = dataBlobs();

export const handler = jobHandler(async (input: PrepareInput) => {
  const state = await prepareStep(blobs, input ?? {});
  logger.info('snapshot prepared', { runId: state.runId, counts: state.snapshot?.counts, enoughData: state.enoughData });
  return state;
});
