import { z } from 'zod';
import { documentClient, s3Client } from '../../shared/aws/clients';
import { appConfig } from '../../shared/config/env';
import { type ApiEvent, type ApiResult, httpHandler, json, parseWith } from '../../shared/http/api';
import { notFound } from '../../shared/http/errors';
import { logger, metrics } from '../../shared/observability/powertools';
import { eraseProfile, ProfileNotFoundError } from '../../shared/privacy/erase';
import { IdentityGraph } from '../../shared/profiles/identity-graph';
import { ProfilesTable } from '../../shared/profiles/table';
import { S3ObjectStore } from '../../shared/storage/s3-object-store';

const config = appConfig();
const deps = {
  graph: new IdentityGraph(new ProfilesTable(documentClient(), config.profilesTable)),
  blobs: new S3ObjectStore(s3Client(), config.dataBucket),
};

const requestSchema = z.strictObject({
  profileId: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
});

/**
 * DELETE /v1/profiles/{profileId} — erases the shopper: profile, identity links and merge history
 * go, the profile id (and every id merged into it) goes on the suppression list that snapshots,
 * feature builds and the raw-event compaction job honour. Safe to repeat.
 */
export async function deleteProfileCore(event: ApiEvent): Promise<ApiResult> {
  const { profileId } = parseWith(requestSchema, { profileId: event.pathParameters?.profileId }, 'request');
  try {
    const result = await eraseProfile(deps, profileId);
    metrics.addMetric('ProfilesErased', 'Count', result.alreadyErased ? 0 : 1);
    logger.info('profile erased', { profileId: result.profileId, suppressed: result.suppressed.length, alreadyErased: result.alreadyErased });
    return json(200, {
      ...result,
      rawEvents: 'removed by the compactRawEvents job (daily); excluded from snapshots and features from now on',
      quarantine: 'rows holding its identifiers removed by the compactRawEvents job (daily); encrypted at rest until then',
    });
  } catch (error) {
    if (error instanceof ProfileNotFoundError) throw notFound(`No profile ${profileId}`);
    throw error;
  }
}

export const handler = httpHandler(deleteProfileCore);
