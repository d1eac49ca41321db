import { s3Client } from '../../shared/aws/clients';
import { logger, metrics } from '../../shared/observability/powertools';
import { jobHandler } from '../../shared/observability/job';
import { reduceFeatureJob } from '../../shared/features/partials';
import { dataBlobs } from '../../shared/training/deps';

const blobs = dataBlobs();
const s3 = s3Client();

/** Reduce step of the distributed feature job: merges the day partials into the user and item feature files. */
export const handler = jobHandler(async (event: { jobId?: unknown; request?: unknown }) => {
  const result = await reduceFeatureJob(s3, blobs, event ?? {});
  logger.appendKeys({ featureJob: String(event?.jobId) });
  metrics.addMetric('FeatureUsers', 'Count', result.manifest.counts.users);
  metrics.addMetric('FeatureItems', 'Count', result.manifest.counts.items);
  if (result.builtByReduce.length) logger.warn('day partitions no map batch had claimed were built by the reduce', { days: result.builtByReduce });
  logger.info('features built', { ...result.manifest.counts, asOf: result.manifest.asOf, days: result.days });
  return result.manifest;
});
