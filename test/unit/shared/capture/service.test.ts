import { gunzipSync } from 'node:zlib';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { CanonicalEvent } from '../../../../shared/events/canonical';
import { QUARANTINE_PREFIX, type QuarantineRow, quarantinePayloadJson } from '../../../../shared/capture/quarantine';
import { RAW_EVENTS_PREFIX, rawEventsKey } from '../../../../shared/capture/raw-events';
import { captureBatch, type CaptureDeps, validateMessages } from '../../../../shared/capture/service';
import { ProfileRepository } from '../../../../shared/profiles/repository';
import { BlobStore } from '../../../../shared/storage/blob';

const s3Mock = mockClient(S3Client);
const ddbMock = mockClient(DynamoDBDocumentClient);

const NOW = new Date('2026-03-10T12:00:00.000Z');
const BUCKET = 'data-bucket';
const TABLE = 'profiles-table';

function deps(): CaptureDeps {
  const s3 = new S3Client({ region: 'eu-west-1' });
  const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
  return { blobs: new BlobStore(s3, BUCKET), profiles: new ProfileRepository(ddb, TABLE), now: () => NOW };
}

function view(messageId: string, fields: Record<string, unknown> = {}) {
  return {
    type: 'track',
    event: 'Product Viewed',
    messageId,
    userId: 'u-1',
    timestamp: '2026-03-10T09:00:00.000Z',
    properties: { product_id: 'p-1' },
    ...fields,
  };
}

/** Every raw object written to S3, with its key and its (gunzipped) canonical events. */
function storedObjects(): { key: string; events: CanonicalEvent[] }[] {
  return rawPuts().map((call) => {
    const input = call.args[0].input;
    const text = gunzipSync(input.Body as Uint8Array).toString('utf8');
    return { key: input.Key as string, events: text.split('\n').map((line) => JSON.parse(line) as CanonicalEvent) };
  });
}

/** PutObject calls under raw/events/ (the quarantine writes elsewhere). */
function rawPuts() {
  return s3Mock.commandCalls(PutObjectCommand).filter((call) => String(call.args[0].input.Key).startsWith(RAW_EVENTS_PREFIX));
}

/** A stored row with its sealed payload opened back into `message` (the stored bytes hold it encrypted). */
function opened(row: QuarantineRow): Record<string, unknown> & { kind: string; message: unknown; reasons: { field: string }[]; source: string } {
  const { sealed: _sealed, ...rest } = row;
  return { ...rest, message: JSON.parse(quarantinePayloadJson(row) as string) as unknown };
}

/** Rows written to the quarantine, their sealed payload opened. */
function quarantinedRows(): Record<string, unknown>[] {
  return s3Mock
    .commandCalls(PutObjectCommand)
    .filter((call) => String(call.args[0].input.Key).startsWith(QUARANTINE_PREFIX))
    .flatMap((call) =>
      gunzipSync(call.args[0].input.Body as Uint8Array)
        .toString('utf8')
        .split('\n')
        .map((line) => opened(JSON.parse(line) as QuarantineRow)),
    );
}

beforeEach(() => {
  s3Mock.reset();
  ddbMock.reset();
  s3Mock.on(PutObjectCommand).resolves({});
  ddbMock.on(GetCommand).resolves({});
  ddbMock.on(PutCommand).resolves({});
  ddbMock.on(UpdateCommand).resolves({ Attributes: { profileId: 'u:u-1', version: 1, seen: {}, recent: [] } });
});

describe('validateMessages', () => {
  it('keeps the valid messages and rejects each invalid one with its index and issues', () => {
    // Prepare
    const batch = [
      view('m-1'),
      'not an object',
      { type: 'track', event: 'Product Viewed', messageId: 'm-3', properties: { product_id: 'p-1' } },
      view('m-4', { colour: 'red' }),
      view('m-5', { timestamp: '2026-03-12T12:00:00.000Z' }),
      view('m-6'),
    ];

    // Act
    const { valid, rejected, inBatchDuplicates } = validateMessages(batch, NOW);

    // Assess
    expect(valid.map((e) => e.eventId)).toEqual(['m-1', 'm-6']);
    expect(inBatchDuplicates).toBe(0);
    expect(rejected).toEqual([
      { index: 1, issues: [{ field: 'batch.1', reason: 'must be an object' }] },
      { index: 2, messageId: 'm-3', issues: [{ field: 'userId', reason: 'userId or anonymousId is required' }] },
      { index: 3, messageId: 'm-4', issues: [{ field: 'colour', reason: 'unknown field' }] },
      { index: 4, messageId: 'm-5', issues: [{ field: 'timestamp', reason: expect.stringContaining('future') }] },
    ]);
  });

  it('rejects a hostile message on its own and keeps the rest of the batch', () => {
    // Prepare
    const hostile: unknown = JSON.parse(`{"type":"track","event":"X","messageId":"m-2","userId":"u-1","properties":{"__proto__":{"admin":true}}}`);

    // Act
    const { valid, rejected } = validateMessages([view('m-1'), hostile], NOW);

    // Assess
    expect(valid.map((e) => e.eventId)).toEqual(['m-1']);
    expect(rejected).toEqual([{ index: 1, messageId: 'm-2', issues: [{ field: '(message)', reason: expect.stringContaining('__proto__') }] }]);
  });

  it('rejects a message nested thousands of levels deep instead of throwing for the whole batch', () => {
    // Prepare
    let deep: unknown = 1;
    for (let i = 0; i < 20_000; i++) deep = { a: deep };

    // Act
    const { valid, rejected } = validateMessages([view('m-1'), view('m-2', { properties: { product_id: 'p-1', deep } })], NOW);

    // Assess
    expect(valid.map((e) => e.eventId)).toEqual(['m-1']);
    expect(rejected).toEqual([{ index: 1, messageId: 'm-2', issues: [{ field: '(message)', reason: expect.stringContaining('deeper') }] }]);
  });

  it('counts in-batch duplicate messageIds instead of keeping them twice', () => {
    // Act
    const { valid, inBatchDuplicates } = validateMessages([view('m-1'), view('m-1'), view('m-2')], NOW);

    // Assess
    expect(valid.map((e) => e.eventId)).toEqual(['m-1', 'm-2']);
    expect(inBatchDuplicates).toBe(1);
  });
});

describe('captureBatch', () => {
  it('stores a mixed batch: valid events are written and counted, invalid ones are reported', async () => {
    // Prepare
    const batch = [view('m-1'), { type: 'track', messageId: 'm-2', userId: 'u-1' }];

    // Act
    const result = await captureBatch(deps(), { batch });

    // Assess
    expect(result).toEqual({
      accepted: 1,
      suppressed: 0,
      duplicates: 0,
      profiles: 1,
      quarantined: 1,
      rejected: [
        {
          index: 1,
          messageId: 'm-2',
          issues: [{ field: 'event', reason: 'is required for track messages' }],
          quarantineId: expect.stringMatching(/^[0-9a-f]{32}$/),
        },
      ],
      results: [
        { index: 0, messageId: 'm-1', status: 'accepted' },
        { index: 1, messageId: 'm-2', status: 'rejected' },
      ],
    });
    expect(storedObjects().flatMap((o) => o.events.map((e) => e.eventId))).toEqual(['m-1']);
    expect(ddbMock.commandCalls(UpdateCommand)).toHaveLength(1);
    expect(quarantinedRows()).toEqual([
      expect.objectContaining({
        id: result.rejected[0]?.quarantineId,
        kind: 'message',
        message: batch[1],
        reasons: [{ field: 'event', reason: 'is required for track messages' }],
        receivedAt: NOW.toISOString(),
        source: 'capture',
      }),
    ]);
  });

  it('stores an in-batch duplicate once and counts it as a duplicate', async () => {
    // Act
    const result = await captureBatch(deps(), { batch: [view('m-1'), view('m-1'), view('m-2')] });

    // Assess
    expect(result).toMatchObject({ accepted: 3, duplicates: 1, rejected: [] });
    expect(
      storedObjects()
        .flatMap((o) => o.events.map((e) => e.eventId))
        .sort(),
    ).toEqual(['m-1', 'm-2']);
    expect(ddbMock.commandCalls(UpdateCommand).map((c) => c.args[0].input.ExpressionAttributeNames?.['#mid'])).toEqual(['m-1', 'm-2']);
  });

  it('writes raw events to raw/events/dt=YYYY-MM-DD/<hash>.ndjson.gz grouped by event date', async () => {
    // Prepare
    const batch = [
      view('m-1', { timestamp: '2026-03-09T23:59:59.000Z' }),
      view('m-2', { timestamp: '2026-03-10T00:00:00.000Z' }),
      view('m-3', { timestamp: '2026-03-09T08:00:00.000Z' }),
    ];

    // Act
    await captureBatch(deps(), { batch });

    // Assess
    const objects = storedObjects().sort((a, b) => a.key.localeCompare(b.key));
    expect(objects.map((o) => o.events.map((e) => e.eventId).sort())).toEqual([['m-1', 'm-3'], ['m-2']]);
    expect(objects[0]?.key).toBe(rawEventsKey('2026-03-09', objects[0]?.events ?? []));
    expect(objects[1]?.key).toBe(rawEventsKey('2026-03-10', objects[1]?.events ?? []));
    for (const o of objects) expect(o.key).toMatch(/^raw\/events\/dt=\d{4}-\d{2}-\d{2}\/[0-9a-f]{32}\.ndjson\.gz$/);
    const input = s3Mock.commandCalls(PutObjectCommand)[0]?.args[0].input;
    expect(input).toMatchObject({ Bucket: BUCKET, ContentType: 'application/x-ndjson', ContentEncoding: 'gzip' });
  });

  it('writes the same raw key for the same set of events whatever their order (a retry overwrites)', async () => {
    // Prepare
    const batch = [view('m-1'), view('m-2'), view('m-3')];
    await captureBatch(deps(), { batch });
    const firstKeys = storedObjects().map((o) => o.key);
    s3Mock.resetHistory();

    // Act
    await captureBatch(deps(), { batch: [...batch].reverse() });

    // Assess
    expect(storedObjects().map((o) => o.key)).toEqual(firstKeys);
    expect(firstKeys).toHaveLength(1);
  });

  // How ids resolve to profiles is shared/identity's (resolveProfiles delegates to its graph; see
  // service.identity.test.ts beside this file and test/unit/shared/identity/). Here: capture hands a
  // login's anonymous events to the same profile, whatever the graph stores. A link made by an earlier
  // batch is exercised against dynalite in test/integration/capture-segment.test.ts.
  it('applies a login and the anonymous events of the same batch to one profile', async () => {
    // Prepare
    const batch = [view('m-1', { userId: 'u-7', anonymousId: 'anon-7' }), view('m-2', { userId: undefined, anonymousId: 'anon-7' })];

    // Act
    await captureBatch(deps(), { batch });

    // Assess
    const updatedKeys = ddbMock.commandCalls(UpdateCommand).map((c) => JSON.stringify(c.args[0].input.Key));
    expect(updatedKeys.length).toBeGreaterThanOrEqual(2);
    expect(new Set(storedObjects().flatMap((o) => o.events.map((e) => e.profileId))).size).toBe(1);
  });

  it('counts a ConditionalCheckFailedException on the profile update as a duplicate', async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }));

    // Act
    const result = await captureBatch(deps(), { batch: [view('m-1')] });

    // Assess
    expect(result).toMatchObject({ accepted: 1, duplicates: 1, rejected: [] });
  });

  it('counts a track named "constructor" from a channel named "toString" as cnt_custom / ch_server', async () => {
    // Act
    await captureBatch(deps(), { batch: [view('m-1', { event: 'constructor', channel: 'toString', properties: {} })] });

    // Assess
    const names = ddbMock.commandCalls(UpdateCommand)[0]?.args[0].input.ExpressionAttributeNames;
    expect(names).toMatchObject({ '#cnt': 'cnt_custom', '#chc': 'ch_server' });
  });

  it('writes only the quarantine when every message is invalid', async () => {
    // Act
    const result = await captureBatch(deps(), { batch: [{ type: 'track' }, 42] });

    // Assess
    expect(result.accepted).toBe(0);
    expect(result.rejected.map((r) => r.index)).toEqual([0, 1]);
    expect(rawPuts()).toHaveLength(0);
    expect(quarantinedRows().map((row) => row.message)).toEqual([{ type: 'track' }, 42]);
    expect(ddbMock.calls()).toHaveLength(0);
  });

  it('quarantines nothing when told not to (a replay), and still reports the rejection', async () => {
    // Act
    const result = await captureBatch({ ...deps(), quarantine: false }, { batch: [{ type: 'track' }] });

    // Assess
    expect(result).toMatchObject({ accepted: 0, quarantined: 0, rejected: [{ index: 0 }] });
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  it('records the source and the batch sentAt on quarantined rows, and uses the given receivedAt', async () => {
    // Prepare
    const receivedAt = new Date('2026-03-01T08:00:00.000Z');

    // Act
    await captureBatch(
      { ...deps(), source: 'POST /v1/batch' },
      { batch: [{ type: 'track', messageId: 'm-9' }], sentAt: '2026-03-01T07:59:59.000Z', receivedAt },
    );

    // Assess
    expect(quarantinedRows()).toEqual([
      expect.objectContaining({ source: 'POST /v1/batch', sentAt: '2026-03-01T07:59:59.000Z', receivedAt: receivedAt.toISOString() }),
    ]);
    expect(String(s3Mock.commandCalls(PutObjectCommand)[0]?.args[0].input.Key)).toMatch(/^quarantine\/dt=2026-03-01\/[0-9a-f]{32}\.ndjson\.gz$/);
  });

  it('never writes the identity source (traits, context) to raw storage', async () => {
    // Act
    await captureBatch(deps(), { batch: [view('m-1', { traits: { email: 'shopper@example.com' }, context: { phone: '+441234' } })] });

    // Assess
    const text = gunzipSync(rawPuts()[0]?.args[0].input.Body as Uint8Array).toString('utf8');
    expect(text).not.toContain('shopper@example.com');
    expect(text).not.toContain('+441234');
    expect(text).not.toContain('identitySource');
  });

  it('reports each message with its status: accepted, duplicate (in batch or already counted) or rejected', async () => {
    // Prepare
    ddbMock.on(UpdateCommand, { ExpressionAttributeNames: { '#mid': 'm-3' } }).rejects(new ConditionalCheckFailedException({ message: 'seen', $metadata: {} }));

    // Act
    const result = await captureBatch(deps(), { batch: [view('m-1'), view('m-1'), { messageId: 'm-2' }, view('m-3')] });

    // Assess
    expect(result.results).toEqual([
      { index: 0, messageId: 'm-1', status: 'accepted' },
      { index: 1, messageId: 'm-1', status: 'duplicate' },
      { index: 2, messageId: 'm-2', status: 'rejected' },
      { index: 3, messageId: 'm-3', status: 'duplicate' },
    ]);
    expect(result).toMatchObject({ accepted: 3, duplicates: 2, quarantined: 1 });
  });

  it('does not touch profiles when the raw write fails (raw first, so a retry converges)', async () => {
    // Prepare
    s3Mock.on(PutObjectCommand).rejects(new Error('S3 is down'));

    // Act
    const act = captureBatch(deps(), { batch: [view('m-1')] });

    // Assess
    await expect(act).rejects.toThrow('S3 is down');
    expect(ddbMock.commandCalls(UpdateCommand)).toHaveLength(0);
  });
});
