import { documentClient, s3Client } from '../../shared/aws/clients';
import { appConfig } from '../../shared/config/env';
import { buildFeatures, type FeatureManifest } from '../../shared/features/build';
import { mergeRedirectsLoader } from '../../shared/profiles/redirects';
import { logger, metrics } from '../../shared/observability/powertools';
import { jobHandler } from '../../shared/observability/job';
import { S3ObjectStore } from '../../shared/storage/s3-object-store';

const config = appConfig();
const blobs = new S3ObjectStore(s3Client(), config.dataBucket);
// Shoppers merged since capture count as their surviving profile (the redirects are read per run).
const loadRedirects = mergeRedirectsLoader(documentClient, logger);

type FeatureJobEvent = { source?: string; asOf?: string };

/**
 * The batch feature job: on its schedule it rebuilds user and item features from raw events (bulk
 * uploads under imports/events/ are imported by importEvents, functions/jobs/import-events.ts).
 */
export const handler = jobHandler(async (event: FeatureJobEvent): Promise<{ features: FeatureManifest }> => {
  const { redirects, direct, pages } = await loadRedirects();
  const features = await buildFeatures(blobs, { ...(event.asOf ? { asOf: new Date(event.asOf) } : {}), redirects });
  metrics.addMetric('MergeRedirects', 'Count', redirects.size);
  logger.info('features built', { ...features.counts, asOf: features.asOf, redirects: { direct, pages } });
  return { features };
});
