import { gunzipSync, gzipSync } from 'node:zlib';
import { S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { buildFeatures } from '../../../../shared/features/build';
import { followRedirects } from '../../../../shared/identity/redirects';
import { prepareSnapshot } from '../../../../shared/snapshots/snapshot';
import { BlobStore } from '../../../../shared/storage/blob';
import { memoryBucket } from '../../../helpers/handler-harness';

const s3Mock = mockClient(S3Client);
const store = new Map<string, Uint8Array>();
const blobs = () => new BlobStore(new S3Client({ region: 'eu-west-1' }), 'bucket');
const event = (eventId: string, profileId: string, ts: string) => ({
  eventId,
  profileId,
  type: 'view',
  timestamp: ts,
  receivedAt: ts,
  channel: 'web',
  items: [{ itemId: `i-${eventId}` }],
});
const ndjson = (key: string) =>
  gunzipSync(store.get(key) as Uint8Array)
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

beforeEach(() => {
  s3Mock.reset();
  store.clear();
  memoryBucket(s3Mock, store);
});

describe('merge redirects in batch jobs', () => {
  it('follows chains of merges to the surviving profile', () => {
    // Act
    const map = followRedirects(
      new Map([
        ['p_a', 'p_b'],
        ['p_b', 'p_c'],
        ['p_x', 'p_y'],
      ]),
    );

    // Assess
    expect(Object.fromEntries(map)).toEqual({ p_a: 'p_c', p_b: 'p_c', p_x: 'p_y' });
  });

  it('counts two profiles merged after their events were captured as ONE user in the snapshot and the user features', async () => {
    // Prepare: events captured under p_anon and p_login, merged later (p_anon → p_login).
    const events = [event('e1', 'p_anon', '2026-03-01T10:00:00.000Z'), event('e2', 'p_login', '2026-03-02T10:00:00.000Z')];
    store.set('raw/events/dt=2026-03-01/a.ndjson.gz', gzipSync(events.map((e) => JSON.stringify(e)).join('\n')));
    const redirects = followRedirects(new Map([['p_anon', 'p_login']]));

    // Act
    const snapshot = await prepareSnapshot(blobs(), { runId: 'r1', redirects });
    const features = await buildFeatures(blobs(), { redirects });

    // Assess
    expect(snapshot.counts.users).toBe(1);
    expect(new Set(ndjson(snapshot.interactionsKey).map((x) => x.p))).toEqual(new Set(['p_login']));
    const users = ndjson(features.usersKey);
    expect(users.map((u) => [u.profileId, u.events])).toEqual([['p_login', 2]]);
  });
});
