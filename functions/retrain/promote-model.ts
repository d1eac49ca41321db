import { logger, metrics } from '../../shared/observability/powertools';
import { jobHandler } from '../../shared/observability/job';
import { dataBlobs } from '../../shared/training/deps';
import { tagRun } from '../../shared/training/observe';
import { promoteStep, type RunState } from '../../shared/training/pipeline';

const blobs = dataBlobs();

/** Retraining step 5: moves each passing family's champion alias, only from the champion it was judged against. */
export const handler = jobHandler(async (state: RunState) => {
  tagRun(state);
  const next = await promoteStep(blobs, state);
  for (const p of next.promotions ?? []) {
    const single = metrics.singleMetric();
    single.addDimensions({ modelFamily: p.family, modelVersion: p.version });
    single.addMetric('ChampionMoved', 'Count', 1);
    logger.info('champion moved', { modelFamily: p.family, modelVersion: p.version, previous: p.previous });
  }
  return next;
});
