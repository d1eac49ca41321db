import type { Context } from 'aws-lambda';
import { documentClient, s3Client } from '../../shared/aws/clients';
import { authConfig } from '../../shared/capture/auth';
import { type CaptureHttpDeps, handleCapture } from '../../shared/capture/http';
import { appConfig } from '../../shared/config/env';
import { type ApiEvent, type ApiResult, httpHandler, json } from '../../shared/http/api';
import { HttpError } from '../../shared/http/errors';
import { logger, metrics } from '../../shared/observability/powertools';
import { ProfileRepository } from '../../shared/profiles/repository';
import { S3ObjectStore } from '../../shared/storage/s3-object-store';

const config = appConfig();
const auth = authConfig('WRITE_KEYS');
const deps: CaptureHttpDeps = {
  blobs: new S3ObjectStore(s3Client(), config.dataBucket),
  profiles: new ProfileRepository(documentClient(), config.profilesTable),
  auth,
};
// From SSM (WRITE_KEYS_PARAMETER) the keys arrive before each request (secretsMiddleware in httpHandler) and are never open.
if (auth.source === 'environment' && auth.mode === 'open') logger.warn('WRITE_KEYS is empty: the local stack accepts capture requests without a write key');

/**
 * Segment-compatible capture: `POST /v1/batch`, `/v1/track`, `/v1/identify`, `/v1/page`,
 * `/v1/screen`, `/v1/alias`, `/v1/group` (routed by `event.routeKey`).
 */
export async function captureCore(event: ApiEvent, _context?: Context): Promise<ApiResult> {
  try {
    const { statusCode, body, result } = await handleCapture(deps, event);
    metrics.addMetric('EventsAccepted', 'Count', result.accepted);
    metrics.addMetric('EventsRejected', 'Count', result.rejected.length);
    metrics.addMetric('EventsDuplicate', 'Count', result.duplicates);
    metrics.addMetric('EventsQuarantined', 'Count', result.quarantined);
    logger.info('capture request', { route: event.routeKey, accepted: result.accepted, rejected: result.rejected.length, duplicates: result.duplicates });
    return json(statusCode, body);
  } catch (error) {
    if (error instanceof HttpError && error.statusCode < 500) {
      metrics.addMetric(error.statusCode === 401 ? 'CaptureUnauthorized' : 'CaptureRequestsRefused', 'Count', 1);
    }
    throw error;
  }
}

export const handler = httpHandler(captureCore);
