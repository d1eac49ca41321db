import { documentClient } from '../../shared/aws/clients';
import { reduceFeatureJob } from '../../shared/features/partials';
import { mergeRedirectsLoader } from '../../shared/profiles/redirects';
import { logger, metrics } from '../../shared/observability/powertools';
import { jobHandler } from '../../shared/observability/job';
import { dataBlobs } from '../../shared/training/deps';

const blobs = dataBlobs();
const loadRedirects = mergeRedirectsLoader(documentClient, logger);

/**
 * Reduce step of the distributed feature job: merges the day partials, moves the shoppers merged
 * since capture to their surviving profile (one read of the merge redirects per job), and writes
 * the user and item feature files.
 */
export const handler = jobHandler(async (event: { jobId?: unknown; request?: unknown }) => {
  logger.appendKeys({ featureJob: String(event?.jobId) });
  const { redirects, direct, pages } = await loadRedirects();
  const result = await reduceFeatureJob(blobs, event ?? {}, { redirects });
  metrics.addMetric('FeatureUsers', 'Count', result.manifest.counts.users);
  metrics.addMetric('FeatureItems', 'Count', result.manifest.counts.items);
  metrics.addMetric('MergeRedirects', 'Count', redirects.size);
  if (result.builtByReduce.length) logger.warn('day partitions no map batch had claimed were built by the reduce', { days: result.builtByReduce });
  logger.info('features built', { ...result.manifest.counts, asOf: result.manifest.asOf, days: result.days, redirects: { direct, pages } });
  return result.manifest;
});
