import { documentClient, s3Client } from '../../shared/aws/clients';
import { batchEnvelopeSchema, MAX_BATCH_BYTES } from '../../shared/capture/schema';
import { captureBatch } from '../../shared/capture/service';
import { appConfig } from '../../shared/config/env';
import { type ApiEvent, type ApiResult, httpHandler, json, parseJsonBody, parseWith } from '../../shared/http/api';
import { badRequest } from '../../shared/http/errors';
import { logger, metrics } from '../../shared/observability/powertools';
import { ProfileRepository } from '../../shared/profiles/repository';
import { BlobStore } from '../../shared/storage/blob';

const config = appConfig();
const blobs = new BlobStore(s3Client(), config.dataBucket);
const profiles = new ProfileRepository(documentClient(), config.profilesTable);

/** POST /v1/batch — Segment-shaped batch capture. */
export async function captureBatchCore(event: ApiEvent): Promise<ApiResult> {
  const envelope = parseWith(batchEnvelopeSchema, parseJsonBody(event, MAX_BATCH_BYTES), 'batch');
  const result = await captureBatch({ blobs, profiles }, envelope);
  metrics.addMetric('EventsAccepted', 'Count', result.accepted);
  metrics.addMetric('EventsRejected', 'Count', result.rejected.length);
  metrics.addMetric('EventsDuplicate', 'Count', result.duplicates);
  if (result.accepted === 0) throw badRequest('No valid message in the batch', result.rejected.flatMap((r) => r.issues.map((i) => ({ field: `batch.${r.index}.${i.field}`, reason: i.reason }))));
  logger.info('batch captured', { accepted: result.accepted, rejected: result.rejected.length, duplicates: result.duplicates });
  return json(200, { success: true, ...result });
}

export const handler = httpHandler(captureBatchCore);
