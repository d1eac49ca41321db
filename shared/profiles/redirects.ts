/**
 * The merge redirects of the profiles table, for batch jobs: built from the identity graph's redirect
 * items (`status: 'merged'`, `mergedInto`), read through the table's sparse `mergedInto` index
 * (serverless.yml ProfilesTable, custom.profilesMergedIndexName): only redirect items carry that
 * attribute, so a Scan of the index reads the redirects and nothing else. Chains are followed by
 * shared/identity/redirects.ts.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { requireEnv } from '../config/env';
import { followRedirects, type MergeRedirects } from '../identity/redirects';
import { PROFILE_PK_PREFIX, PROFILE_SK, ProfilesTable, profileIdOfKey } from './table';

/** Environment variable naming the index (set per function in serverless.yml, with dynamodb:Scan on that index only). */
export const MERGED_INDEX_ENV = 'PROFILES_MERGED_INDEX';

/** The index (or its table) does not exist: the batch job stops rather than count merged shoppers twice. */
export class MergeRedirectsIndexError extends Error {
  constructor(
    readonly tableName: string,
    readonly indexName: string,
    cause: unknown,
  ) {
    super(
      `merge redirects: index "${indexName}" of table "${tableName}" does not exist (${(cause as Error)?.message ?? String(cause)}); ` +
        'deploy the ProfilesTable GlobalSecondaryIndex keyed on mergedInto (serverless.yml) before running the batch jobs',
      { cause },
    );
    this.name = 'MergeRedirectsIndexError';
  }
}

/** An index item that is not a redirect the graph writes (kept out of the map, reported). */
export interface SkippedRedirect {
  key: { pk?: unknown; sk?: unknown };
  field: 'pk' | 'sk' | 'mergedInto';
  reason: string;
}

export interface LoadedRedirects {
  /** Absorbed profile id → final survivor (chains followed). */
  redirects: MergeRedirects;
  /** Redirect items read (before chains were followed). */
  direct: number;
  /** Scan pages read. */
  pages: number;
  skipped: SkippedRedirect[];
}

export interface LoadRedirectsOptions {
  /** Items per Scan page (DynamoDB also stops a page at 1 MB). Default 5000. */
  pageSize?: number;
}

function parseItem(item: Record<string, unknown>): { from: string; to: string } | SkippedRedirect {
  const key = { pk: item.pk, sk: item.sk };
  if (typeof item.pk !== 'string' || profileIdOfKey({ pk: item.pk, sk: PROFILE_SK }) === undefined)
    return { key, field: 'pk', reason: `must be "${PROFILE_PK_PREFIX}<profileId>"` };
  const from = profileIdOfKey(key);
  if (from === undefined) return { key, field: 'sk', reason: `must be "${PROFILE_SK}" (only profile items are redirects)` };
  if (typeof item.mergedInto !== 'string' || item.mergedInto === '') return { key, field: 'mergedInto', reason: 'must be a non-empty profile id' };
  if (item.mergedInto === from) return { key, field: 'mergedInto', reason: 'names the profile itself' };
  return { from, to: item.mergedInto };
}

const isMissingIndex = (error: unknown) => {
  const e = error as { name?: string; message?: string };
  return e?.name === 'ResourceNotFoundException' || (e?.name === 'ValidationException' && /specified index/i.test(e.message ?? ''));
};

/**
 * Reads every redirect from the sparse `mergedInto` index (paginated Scan: Limit + ExclusiveStartKey;
 * KEYS_ONLY is enough, pk holds the absorbed id) and follows chains to the final survivor. The index
 * is eventually consistent: a merge seconds old may be missing, and is picked up by the next run.
 */
export async function loadMergeRedirects(
  client: DynamoDBDocumentClient,
  tableName: string,
  indexName: string,
  options: LoadRedirectsOptions = {},
): Promise<LoadedRedirects> {
  const pageSize = options.pageSize ?? 5000;
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new RangeError(`pageSize: must be a positive integer, got ${pageSize}`);
  const direct = new Map<string, string>();
  const skipped: SkippedRedirect[] = [];
  let pages = 0;
  const table = new ProfilesTable(client, tableName);
  let start: Record<string, unknown> | undefined;
  do {
    let page: Awaited<ReturnType<ProfilesTable['scanIndex']>>;
    try {
      page = await table.scanIndex(indexName, { limit: pageSize, start });
    } catch (error) {
      if (isMissingIndex(error)) throw new MergeRedirectsIndexError(tableName, indexName, error);
      throw error;
    }
    pages += 1;
    for (const item of page.items) {
      const parsed = parseItem(item);
      if ('field' in parsed) skipped.push(parsed);
      else direct.set(parsed.from, parsed.to);
    }
    start = page.next;
  } while (start);
  return { redirects: followRedirects(direct), direct: direct.size, pages, skipped };
}

/**
 * For handlers: loads the redirects of the profiles table (PROFILES_TABLE) through the index named
 * by PROFILES_MERGED_INDEX. The variables are read and checked on the first call (a function's own
 * environment is only complete once it is invoked); the map is read afresh on every call, since
 * merges keep happening between runs. Index items that are not redirects are reported to `log`.
 */
export function mergeRedirectsLoader(
  client: () => DynamoDBDocumentClient,
  log?: { warn(message: string, details: Record<string, unknown>): void },
  env: NodeJS.ProcessEnv = process.env,
) {
  let target: { table: string; index: string } | undefined;
  return async (options?: LoadRedirectsOptions): Promise<LoadedRedirects> => {
    target ??= { table: requireEnv('PROFILES_TABLE', env), index: requireEnv(MERGED_INDEX_ENV, env) };
    const loaded = await loadMergeRedirects(client(), target.table, target.index, options);
    if (loaded.skipped.length)
      log?.warn('merge redirects: index items that are not redirects were ignored', { count: loaded.skipped.length, first: loaded.skipped.slice(0, 10) });
    return loaded;
  };
}
