import { documentClient, s3Client } from '../aws/clients';
import { requireEnv } from '../config/env';
import type { ObjectStore } from '../storage/object-store';
import { S3ObjectStore } from '../storage/s3-object-store';
import { CatalogRepository } from './repository';
import type { CatalogDeps } from './service';
import { CatalogSnapshots } from './snapshot';

export type CatalogRuntime = CatalogDeps & { blobs: ObjectStore };

let shared: { runtime: CatalogRuntime; key: unknown[] } | undefined;

/**
 * The catalogue's clients for this container, created on first use (CATALOG_TABLE and DATA_BUCKET are
 * required); rebuilt only if the clients or names change (the local stack restarting in one process).
 */
export function catalogRuntime(env: NodeJS.ProcessEnv = process.env): CatalogRuntime {
  const s3 = s3Client();
  const ddb = documentClient();
  const key = [s3, ddb, env.DATA_BUCKET, env.CATALOG_TABLE];
  if (shared?.key.every((v, i) => v === key[i])) return shared.runtime;
  const blobs = new S3ObjectStore(s3, requireEnv('DATA_BUCKET', env));
  const runtime = { blobs, repository: new CatalogRepository(ddb, requireEnv('CATALOG_TABLE', env)), snapshots: new CatalogSnapshots(blobs) };
  shared = { runtime, key };
  return runtime;
}

export function resetCatalogRuntime(): void {
  shared = undefined;
}
