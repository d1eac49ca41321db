import { gunzipSync, gzipSync } from 'node:zlib';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { quarantineRows, readQuarantineDay } from '../../../../shared/capture/quarantine';
import { defaultHasher } from '../../../../shared/identity/hashing';
import { identifierKey } from '../../../../shared/identity/identifiers';
import { compactRawEvents } from '../../../../shared/privacy/compaction';
import { loadSuppressedProfiles, suppressIdentifiers, suppressionKey, suppressProfiles, withoutSuppressed } from '../../../../shared/privacy/suppression';
import { BlobStore } from '../../../../shared/storage/blob';
import { memoryBucket } from '../../../helpers/handler-harness';

const s3Mock = mockClient(S3Client);
const store = new Map<string, Uint8Array>();
const NOW = new Date('2026-06-01T00:00:00.000Z');
const blobs = () => new BlobStore(new S3Client({ region: 'eu-west-1' }), 'bucket');

const lines = (...profileIds: string[]) => profileIds.map((p, i) => JSON.stringify({ eventId: `${p}-${i}`, profileId: p, type: 'view' })).join('\n');
const readLines = (key: string) =>
  gunzipSync(store.get(key) as Uint8Array)
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { profileId: string }).profileId);

beforeEach(() => {
  s3Mock.reset();
  store.clear();
  memoryBucket(s3Mock, store);
});

describe('suppression list', () => {
  it('stores one object per erased id and reads the ids back from the key names alone', async () => {
    // Act
    await suppressProfiles(blobs(), ['p_1', 'p_2', 'p_1', 'odd/id'], 'p_1', NOW);

    // Assess
    expect([...(await loadSuppressedProfiles(blobs()))].sort()).toEqual(['odd/id', 'p_1', 'p_2']);
    expect(store.has(suppressionKey('odd/id'))).toBe(true);
    expect(s3Mock.commandCalls(GetObjectCommand)).toHaveLength(0);
  });

  it('filters the events of suppressed shoppers out of what a job reads', async () => {
    // Prepare
    await suppressProfiles(blobs(), ['p_gone'], 'p_gone', NOW);

    // Act
    const kept = await withoutSuppressed(blobs(), [
      { profileId: 'p_gone', eventId: 'a' },
      { profileId: 'p_here', eventId: 'b' },
    ]);

    // Assess
    expect(kept).toEqual([{ profileId: 'p_here', eventId: 'b' }]);
  });
});

describe('compactRawEvents', () => {
  it('rewrites only the raw objects holding suppressed shoppers, without them, and nothing on a second run', async () => {
    // Prepare
    store.set('raw/events/dt=2026-05-01/a.ndjson.gz', gzipSync(lines('p_gone', 'p_here', 'p_gone')));
    store.set('raw/events/dt=2026-05-02/b.ndjson.gz', gzipSync(lines('p_here')));
    store.set('raw/events/dt=2026-05-03/c.ndjson.gz', gzipSync(lines('p_merged')));
    const untouched = store.get('raw/events/dt=2026-05-02/b.ndjson.gz');
    await suppressProfiles(blobs(), ['p_gone', 'p_merged'], 'p_gone', NOW);

    // Act
    const first = await compactRawEvents(blobs(), { now: () => NOW });
    const second = await compactRawEvents(blobs(), { now: () => NOW });

    // Assess
    expect(first).toMatchObject({ suppressedProfiles: 2, objectsScanned: 3, objectsRewritten: 2, eventsRemoved: 3 });
    expect(first.rewritten.sort()).toEqual(['raw/events/dt=2026-05-01/a.ndjson.gz', 'raw/events/dt=2026-05-03/c.ndjson.gz']);
    expect(readLines('raw/events/dt=2026-05-01/a.ndjson.gz')).toEqual(['p_here']);
    expect(readLines('raw/events/dt=2026-05-03/c.ndjson.gz')).toEqual([]);
    expect(store.get('raw/events/dt=2026-05-02/b.ndjson.gz')).toBe(untouched);
    expect(second).toMatchObject({ objectsScanned: 3, objectsRewritten: 0, eventsRemoved: 0 });
    expect(JSON.parse(Buffer.from(store.get('privacy/compaction/latest.json') as Uint8Array).toString('utf8'))).toMatchObject({ objectsRewritten: 0 });
  });

  it('reads no raw object while nobody is suppressed', async () => {
    // Prepare
    store.set('raw/events/dt=2026-05-01/a.ndjson.gz', gzipSync(lines('p_here')));

    // Act
    const report = await compactRawEvents(blobs(), { now: () => NOW });

    // Assess
    expect(report).toMatchObject({ suppressedProfiles: 0, objectsScanned: 0 });
    expect(s3Mock.commandCalls(GetObjectCommand)).toHaveLength(0);
  });
});

describe('compactRawEvents: the quarantine', () => {
  it('drops the quarantined rows of an erased shopper (matched by keyed hashes), keeps the others, and is idempotent', async () => {
    // Prepare: two rejected messages of two shoppers, then the first shopper is erased.
    const hasher = defaultHasher();
    const bad = (messageId: string, userId: string) => ({ type: 'track', event: 'Product Viewed', messageId, userId, context: { channel: 'kiosk' } });
    await quarantineRows(blobs(), [
      { kind: 'message', payload: bad('m-1', 'erased-user'), reasons: [{ field: 'context.channel', reason: 'x' }], receivedAt: NOW.toISOString(), source: 's' },
      { kind: 'message', payload: bad('m-2', 'kept-user'), reasons: [{ field: 'context.channel', reason: 'x' }], receivedAt: NOW.toISOString(), source: 's' },
    ]);
    await suppressIdentifiers(blobs(), [identifierKey(hasher.hash('userId', 'erased-user'))], 'p_erased', NOW);

    // Act
    const first = await compactRawEvents(blobs(), { now: () => NOW });
    const second = await compactRawEvents(blobs(), { now: () => NOW });

    // Assess
    const rows = await readQuarantineDay(blobs(), '2026-06-01');
    expect(rows.map((r) => r.messageId)).toEqual(['m-2']);
    expect(first).toMatchObject({ suppressedIdentifiers: 1, quarantineObjectsRewritten: 1, quarantineRowsRemoved: 1 });
    expect(second).toMatchObject({ quarantineObjectsRewritten: 0, quarantineRowsRemoved: 0 });
  });
});
