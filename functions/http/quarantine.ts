import type { Context } from 'aws-lambda';
import { documentClient, s3Client } from '../../shared/aws/clients';
import { authConfig } from '../../shared/capture/auth';
import { handleQuarantine, QUARANTINE_REPLAY_ROUTE, type QuarantineApiDeps } from '../../shared/capture/quarantine-api';
import type { ReplayReport } from '../../shared/capture/replay';
import { appConfig } from '../../shared/config/env';
import { type ApiEvent, type ApiResult, httpHandler, json } from '../../shared/http/api';
import { logger, metrics } from '../../shared/observability/powertools';
import { ProfileRepository } from '../../shared/profiles/repository';
import { S3ObjectStore } from '../../shared/storage/s3-object-store';

const config = appConfig();
const deps: QuarantineApiDeps = {
  blobs: new S3ObjectStore(s3Client(), config.dataBucket),
  profiles: new ProfileRepository(documentClient(), config.profilesTable),
  auth: authConfig('ADMIN_KEYS'),
};

/** `GET /v1/quarantine` and `POST /v1/quarantine/replay`. */
export async function quarantineCore(event: ApiEvent, _context?: Context): Promise<ApiResult> {
  const out = await handleQuarantine(deps, event);
  if (event.routeKey === QUARANTINE_REPLAY_ROUTE) {
    const report = out as ReplayReport;
    metrics.addMetric('QuarantineReplayed', 'Count', report.replayed);
    metrics.addMetric('QuarantineStillRejected', 'Count', report.stillRejected.length);
    logger.info('quarantine replayed', { day: report.day, replayed: report.replayed, stillRejected: report.stillRejected.length, remaining: report.remaining });
  }
  return json(200, out);
}

export const handler = httpHandler(quarantineCore);
