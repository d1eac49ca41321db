import { z } from 'zod';
import { RECOMMENDER_FAMILY } from '../../models/recommender/contract';
import { documentClient, s3Client } from '../../shared/aws/clients';
import { appConfig } from '../../shared/config/env';
import { type ApiEvent, type ApiResult, httpHandler, json, parseWith } from '../../shared/http/api';
import { serviceUnavailable } from '../../shared/http/errors';
import { logger, metrics } from '../../shared/observability/powertools';
import { primaryProfileId } from '../../shared/profiles/profile';
import { ProfileRepository } from '../../shared/profiles/repository';
import { ChampionCache } from '../../shared/recommend/model-cache';
import { recommend } from '../../shared/recommend/service';
import { ModelRegistry } from '../../shared/registry/registry';
import { BlobStore } from '../../shared/storage/blob';

const config = appConfig();
const profiles = new ProfileRepository(documentClient(), config.profilesTable);
const champion = new ChampionCache(new ModelRegistry(new BlobStore(s3Client(), config.dataBucket)), RECOMMENDER_FAMILY, config.modelAliasTtlSeconds * 1000);

const requestSchema = z.strictObject({
  userId: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
  k: z.coerce.number({ message: 'must be a number' }).int('must be an integer').min(1, 'must be at least 1').max(100, 'must be at most 100').default(10),
});

/** GET /v1/users/{userId}/recommendations?k=10 */
export async function getRecommendationsCore(event: ApiEvent): Promise<ApiResult> {
  const { userId, k } = parseWith(requestSchema, { ...event.queryStringParameters, userId: event.pathParameters?.userId }, 'request');
  const [model, profile] = await Promise.all([champion.get(), profiles.get(primaryProfileId({ userId }))]);
  if (!model) throw serviceUnavailable('No recommender model has been promoted yet; run the retraining state machine');
  const started = performance.now();
  const result = await recommend(model, profile, k);
  metrics.addDimension('modelVersion', model.version);
  metrics.addMetric('InferenceLatency', 'Milliseconds', performance.now() - started);
  if (result.strategy === 'popular') metrics.addMetric('ColdStartFallbacks', 'Count', 1);
  logger.debug('recommendations served', { modelVersion: model.version, strategy: result.strategy, k });
  return json(200, { userId, ...result });
}

export const handler = httpHandler(getRecommendationsCore);
