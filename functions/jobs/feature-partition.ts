import { logger, metrics } from '../../shared/observability/powertools';
import { jobHandler } from '../../shared/observability/job';
import { runPartitionBatch } from '../../shared/features/partials';
import { dataBlobs } from '../../shared/training/deps';

const blobs = dataBlobs();

type BatchEvent = Parameters<typeof runPartitionBatch>[1];

/**
 * Map step of the distributed feature job: one ItemBatcher batch of raw-event objects from the
 * Distributed Map. Partials stay keyed by the profile id each event was captured under; the reduce
 * step moves merged shoppers to their survivor with one read of the merge redirects per job.
 */
export const handler = jobHandler(async (event: BatchEvent) => {
  const result = await runPartitionBatch(blobs, event ?? {});
  logger.appendKeys({ featureJob: result.jobId });
  metrics.addMetric('FeaturePartitionsBuilt', 'Count', result.built.length);
  metrics.addMetric(
    'FeaturePartitionEvents',
    'Count',
    result.built.reduce((n, d) => n + d.events, 0),
  );
  logger.info('feature partitions built', { objects: event?.Items?.length ?? 0, built: result.built, skipped: result.skipped.length });
  return result;
});
