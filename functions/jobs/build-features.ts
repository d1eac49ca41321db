import type { S3Event } from 'aws-lambda';
import { documentClient, s3Client } from '../../shared/aws/clients';
import { importFile, type ImportReport } from '../../shared/capture/import';
import { appConfig } from '../../shared/config/env';
import { buildFeatures, type FeatureManifest } from '../../shared/features/build';
import { logger, metrics } from '../../shared/observability/powertools';
import { jobHandler } from '../../shared/observability/job';
import { ProfileRepository } from '../../shared/profiles/repository';
import { BlobStore } from '../../shared/storage/blob';

const config = appConfig();
const blobs = new BlobStore(s3Client(), config.dataBucket);
const profiles = new ProfileRepository(documentClient(), config.profilesTable);

type FeatureJobEvent = Partial<S3Event> & { source?: string; asOf?: string };

/** S3 keys arrive URL-encoded with '+' for spaces. */
const decodeKey = (key: string) => decodeURIComponent(key.replace(/\+/g, ' '));

/**
 * The batch feature job. On a schedule it rebuilds user and item features from raw events; on an
 * S3 upload under imports/ it first imports the file through the capture path, then rebuilds.
 */
export const handler = jobHandler(async (event: FeatureJobEvent): Promise<{ imports: ImportReport[]; features: FeatureManifest }> => {
  const imports: ImportReport[] = [];
  for (const record of event.Records ?? []) {
    const key = decodeKey(record.s3.object.key);
    const report = await importFile({ blobs, profiles }, key);
    metrics.addMetric('ImportedEvents', 'Count', report.accepted);
    metrics.addMetric('ImportRejectedRows', 'Count', report.rejected);
    logger.info('bulk file imported', { key, accepted: report.accepted, rejected: report.rejected, duplicates: report.duplicates });
    imports.push(report);
  }
  const features = await buildFeatures(blobs, event.asOf ? { asOf: new Date(event.asOf) } : {});
  logger.info('features built', { ...features.counts, asOf: features.asOf });
  return { imports, features };
});
