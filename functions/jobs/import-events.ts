import type { Context, S3Event } from 'aws-lambda';
import { documentClient, s3Client } from '../../shared/aws/clients';
import type { ImportReport } from '../../shared/capture/import';
import { importObject, importSettings, type ObjectImportDeps } from '../../shared/capture/import-parts';
import { appConfig } from '../../shared/config/env';
import { logger, metrics } from '../../shared/observability/powertools';
import { jobHandler } from '../../shared/observability/job';
import { ProfileRepository } from '../../shared/profiles/repository';
import { S3ObjectStore } from '../../shared/storage/s3-object-store';

const config = appConfig();
const blobs = new S3ObjectStore(s3Client(), config.dataBucket);
const profiles = new ProfileRepository(documentClient(), config.profilesTable);
// Read (and checked) once, at the first invocation: the local stack applies a function's own
// environment only while it runs.
let deps: ObjectImportDeps | undefined;

/** S3 keys arrive URL-encoded with '+' for spaces. */
const decodeKey = (key: string) => decodeURIComponent(key.replace(/\+/g, ' '));

/**
 * Bulk event imports (shared/capture/import-parts.ts): an upload under imports/events/ is imported, or
 * split into parts under imports/parts/ when it is larger than IMPORT_PART_BYTES; each part's upload
 * invokes this function again for that part. Features are rebuilt by buildFeatures on its schedule.
 */
export const handler = jobHandler(async (event: S3Event, context: Context): Promise<{ imports: ImportReport[] }> => {
  deps ??= { blobs, profiles, ...importSettings() };
  const deadline = Date.now() + context.getRemainingTimeInMillis();
  const imports: ImportReport[] = [];
  for (const record of event.Records ?? []) {
    const { key, size, eTag, versionId } = record.s3.object;
    const report = await importObject(deps, { key: decodeKey(key), size, eTag, versionId }, { deadline });
    metrics.addMetric('ImportedEvents', 'Count', report.accepted);
    metrics.addMetric('ImportRejectedRows', 'Count', report.rejected);
    if (report.status === 'importing') metrics.addMetric('ImportPartsDispatched', 'Count', report.split?.parts ?? 0);
    logger.info(report.status === 'importing' ? 'bulk file split into parts' : 'bulk file imported', {
      key: report.key,
      accepted: report.accepted,
      rejected: report.rejected,
      duplicates: report.duplicates,
      ...(report.skipped ? { skipped: report.skipped, duplicateOf: report.duplicateOf } : {}),
      ...(report.split ? { parts: report.split.parts, forcedCuts: report.split.forcedCuts } : {}),
    });
    imports.push(report);
  }
  return { imports };
});
