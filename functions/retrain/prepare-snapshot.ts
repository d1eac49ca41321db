import { documentClient } from '../../shared/aws/clients';
import { mergeRedirectsLoader } from '../../shared/profiles/redirects';
import { logger, metrics } from '../../shared/observability/powertools';
import { jobHandler } from '../../shared/observability/job';
import { dataBlobs } from '../../shared/training/deps';
import { tagRun } from '../../shared/training/observe';
import { type PrepareEvent, prepareStep, type RunConfig, runDefaults } from '../../shared/training/pipeline';

const blobs = dataBlobs();
const loadRedirects = mergeRedirectsLoader(documentClient, logger);
// Environment defaults (gate policy, holdout, Fargate threshold and network): read and checked once
// per container, on the first invocation (a bad value fails that task, which the state machine records).
let defaults: RunConfig | undefined;

/**
 * Retraining step 1: validate the request, resolve the run's configuration, write the point-in-time
 * snapshot, with shoppers merged since capture counted as their surviving profile (merge redirects
 * read afresh per run).
 */
export const handler = jobHandler(async (event: PrepareEvent) => {
  defaults ??= runDefaults();
  const { redirects, direct, pages } = await loadRedirects();
  const state = await prepareStep(blobs, event ?? {}, defaults, new Date(), redirects);
  tagRun(state);
  const counts = state.snapshot?.counts;
  metrics.addMetric('SnapshotInteractions', 'Count', counts?.interactions ?? 0);
  metrics.addMetric('SnapshotHoldoutUsers', 'Count', counts?.holdoutUsers ?? 0);
  metrics.addMetric('MergeRedirects', 'Count', redirects.size);
  logger.info('snapshot prepared', {
    counts,
    enoughData: state.enoughData,
    asOf: state.snapshot?.asOf,
    holdoutStart: state.snapshot?.holdoutStart,
    redirects: { direct, pages },
  });
  return state;
});
