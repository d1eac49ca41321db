import type { ObjectStore } from '../storage/object-store';

/**
 * The suppression list: one object per erased profile id under `privacy/suppressed/<profileId>.json`.
 * The id is the key, so readers only list the prefix (s3:ListBucket, no GetObject); writing the same
 * entry twice is harmless, so erasure is safe to retry.
 */
export const SUPPRESSED_PREFIX = 'privacy/suppressed/';

export interface SuppressionEntry {
  profileId: string;
  /** The profile whose erasure suppressed this id (itself, or the survivor it was merged into). */
  erasedWith: string;
  erasedAt: string;
}

export const suppressionKey = (profileId: string) => `${SUPPRESSED_PREFIX}${encodeURIComponent(profileId)}.json`;

export async function suppressProfiles(blobs: ObjectStore, profileIds: readonly string[], erasedWith: string, now = new Date()): Promise<void> {
  await Promise.all(
    [...new Set(profileIds)].map((profileId) =>
      blobs.putJson(suppressionKey(profileId), { profileId, erasedWith, erasedAt: now.toISOString() } satisfies SuppressionEntry),
    ),
  );
}

/**
 * Keyed hashes of the identifiers of erased shoppers, one object per identifier under
 * `privacy/suppressed-identifiers/<type:hash>.json` (key names only are read). They let the
 * compaction job drop quarantined rows, which are not tied to a profile id. Keyed hashes only: the
 * identity graph held the same values, and without PII_HASH_KEY they reveal nothing.
 */
export const SUPPRESSED_IDENTIFIERS_PREFIX = 'privacy/suppressed-identifiers/';

export const suppressedIdentifierKey = (identifierKey: string) => `${SUPPRESSED_IDENTIFIERS_PREFIX}${encodeURIComponent(identifierKey)}.json`;

export async function suppressIdentifiers(blobs: ObjectStore, identifierKeys: readonly string[], erasedWith: string, now = new Date()): Promise<void> {
  await Promise.all([...new Set(identifierKeys)].map((key) => blobs.putJson(suppressedIdentifierKey(key), { erasedWith, erasedAt: now.toISOString() })));
}

/** Every suppressed identifier key (`type:hash`), from the key names alone. */
export async function loadSuppressedIdentifiers(blobs: ObjectStore): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const key of await blobs.listKeys(SUPPRESSED_IDENTIFIERS_PREFIX)) {
    if (key.endsWith('.json')) ids.add(decodeURIComponent(key.slice(SUPPRESSED_IDENTIFIERS_PREFIX.length, -'.json'.length)));
  }
  return ids;
}

/** Every suppressed profile id (from the key names alone). */
export async function loadSuppressedProfiles(blobs: ObjectStore): Promise<Set<string>> {
  const keys = await blobs.listKeys(SUPPRESSED_PREFIX);
  const ids = new Set<string>();
  for (const key of keys) {
    if (!key.endsWith('.json')) continue;
    ids.add(decodeURIComponent(key.slice(SUPPRESSED_PREFIX.length, -'.json'.length)));
  }
  return ids;
}

/**
 * The filter hook of every job that reads raw events into a derived data set (training snapshots,
 * feature files): events of suppressed shoppers never get through, even before compaction ran.
 */
export async function withoutSuppressed<T extends { profileId: string }>(blobs: ObjectStore, events: T[]): Promise<T[]> {
  const suppressed = await loadSuppressedProfiles(blobs);
  return suppressed.size === 0 ? events : events.filter((e) => !suppressed.has(e.profileId));
}
