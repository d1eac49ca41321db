import { s3Client } from '../../shared/aws/clients';
import { appConfig } from '../../shared/config/env';
import { jobHandler } from '../../shared/observability/job';
import { logger, metrics } from '../../shared/observability/powertools';
import { type CompactionReport, compactRawEvents } from '../../shared/privacy/compaction';
import { S3ObjectStore } from '../../shared/storage/s3-object-store';

const config = appConfig();
const blobs = new S3ObjectStore(s3Client(), config.dataBucket);

/** Scheduled: rewrites raw-event partitions without the events of erased (suppressed) shoppers. Idempotent. */
export const handler = jobHandler(async (): Promise<CompactionReport> => {
  const report = await compactRawEvents(blobs);
  metrics.addMetric('RawObjectsRewritten', 'Count', report.objectsRewritten);
  metrics.addMetric('SuppressedEventsRemoved', 'Count', report.eventsRemoved);
  logger.info('raw events compacted', { ...report, rewritten: report.rewritten.length });
  return report;
});
