import type { S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { RECOMMENDER_FAMILY } from '../../models/recommender/contract';
import { type Variant, assignVariant } from './ab-assignment';
import { documentClient, s3Client } from '../aws/clients';
import { CatalogCache, type CatalogueState } from '../catalog/cache';
import { CatalogSnapshots } from '../catalog/snapshot';
import { serviceUnavailable } from '../http/errors';
import { ProfileRepository } from '../profiles/repository';
import { ModelRegistry } from '../registry/registry';
import type { ObjectStore } from '../storage/object-store';
import { S3ObjectStore } from '../storage/s3-object-store';
import { type ServingConfig, servingConfig } from './config';
import { ContentIndexCache } from './content';
import { AliasCache, ChampionCache, type LoadedModel } from './model-cache';
import { ServingProfiles } from './profiles';
import { type BusinessRules, RulesCache } from './rules';
import { ServedLog } from './served-log';
import { type ServingView, ViewCache } from './view';

/** Everything a serving container keeps between requests: clients, caches, the served-list buffer. */
export interface ServingRuntime {
  config: ServingConfig;
  blobs: ObjectStore;
  registry: ModelRegistry;
  profiles: ProfileRepository;
  /** The profile fields serving reads (a projection of the profile item, see ./profiles). */
  shoppers: ServingProfiles;
  champion: AliasCache;
  challenger: AliasCache;
  catalogue: CatalogCache;
  rules: RulesCache;
  servedLog: ServedLog;
  views: ViewCache;
  content: ContentIndexCache;
}

export function createServingRuntime(config: ServingConfig, s3: S3Client, ddb: DynamoDBDocumentClient, clock: () => number = Date.now): ServingRuntime {
  const blobs = new S3ObjectStore(s3, config.dataBucket);
  const registry = new ModelRegistry(blobs);
  const profiles = new ProfileRepository(ddb, config.profilesTable);
  return {
    config,
    blobs,
    registry,
    profiles,
    shoppers: new ServingProfiles(profiles),
    champion: new ChampionCache(registry, RECOMMENDER_FAMILY, config.modelAliasTtlMs, clock),
    challenger: new AliasCache(registry, RECOMMENDER_FAMILY, 'challenger', config.modelAliasTtlMs, clock, false),
    catalogue: new CatalogCache(new CatalogSnapshots(blobs), config.catalogTtlMs, clock),
    rules: new RulesCache(blobs, config.rulesTtlMs, clock),
    servedLog: new ServedLog(blobs, { maxAgeMs: config.servedLogMaxAgeMs, maxRecords: config.servedLogMaxRecords }, clock),
    views: new ViewCache(),
    content: new ContentIndexCache(),
  };
}

let shared: { runtime: ServingRuntime; s3: S3Client; ddb: DynamoDBDocumentClient; env: string } | undefined;

/**
 * The container's runtime, created on first use (configuration fails fast then, naming the variable).
 * Rebuilt only if the clients or the bucket/table change (the local stack restarting in one process).
 */
export function servingRuntime(): ServingRuntime {
  const s3 = s3Client();
  const ddb = documentClient();
  const env = `${process.env.DATA_BUCKET}|${process.env.PROFILES_TABLE}`;
  if (!shared || shared.s3 !== s3 || shared.ddb !== ddb || shared.env !== env)
    shared = { runtime: createServingRuntime(servingConfig(), s3, ddb), s3, ddb, env };
  return shared.runtime;
}

/** Tests and the local stack change the environment between runs. */
export function resetServingRuntime(): void {
  shared = undefined;
}

export interface Served {
  variant: Variant;
  model: LoadedModel;
  view: ServingView;
  rules: BusinessRules;
  catalogue: CatalogueState;
}

/**
 * The model a shopper is served by: the A/B split by a stable hash of the subject (challenger share
 * AB_CHALLENGER_SHARE), falling back to the champion while no challenger is loadable. 503 while no
 * champion has been promoted.
 */
export async function resolveServing(rt: ServingRuntime, subject: string | undefined): Promise<Served> {
  const assignment = assignVariant(subject, rt.config.abChallengerShare, rt.config.abSalt);
  const [champion, challenger, catalogue, rules] = await Promise.all([
    rt.champion.get(),
    assignment.variant === 'challenger' ? rt.challenger.get() : undefined,
    rt.catalogue.get(),
    rt.rules.get(),
  ]);
  if (!champion) throw serviceUnavailable('No recommender model has been promoted yet; run the retraining state machine');
  const variant: Variant = challenger ? 'challenger' : 'champion';
  const model = challenger ?? champion;
  return { variant, model, view: rt.views.get(variant, model, catalogue), rules, catalogue };
}
