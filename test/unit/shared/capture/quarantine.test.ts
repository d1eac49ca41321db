import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { gunzipSync, gzipSync } from 'node:zlib';
import { beforeEach, describe, expect, it } from 'vitest';
import { authConfig } from '../../../../shared/capture/auth';
import {
  applyMergePatch,
  InvalidCursorError,
  listQuarantine,
  nestsDeeperThan,
  type QuarantineRow,
  quarantinePayloadJson,
  quarantineRows,
  readQuarantineDay,
  replayedIds,
  serialiseJson,
} from '../../../../shared/capture/quarantine';
import { handleQuarantine, type QuarantineApiDeps } from '../../../../shared/capture/quarantine-api';
import { QuarantineSealError } from '../../../../shared/capture/quarantine-seal';
import { defaultHasher } from '../../../../shared/identity/hashing';
import { replayQuarantine } from '../../../../shared/capture/replay';
import type { CaptureDeps } from '../../../../shared/capture/service';
import { captureBatch } from '../../../../shared/capture/service';
import { ProfileRepository } from '../../../../shared/profiles/repository';
import { BlobStore } from '../../../../shared/storage/blob';
import { apiEvent } from '../../../helpers/api-event';
import { handlerHarness, memoryBucket } from '../../../helpers/handler-harness';

const { s3: s3Mock, ddb: ddbMock } = handlerHarness();
/** An in-memory bucket behind the S3 mock: what was put can be listed and read back. */
const objects = new Map<string, Uint8Array>();

const DAY = '2026-03-10';
const RECEIVED = new Date(`${DAY}T12:00:00.000Z`);

function deps(): CaptureDeps {
  return {
    blobs: new BlobStore(new S3Client({ region: 'eu-west-1' }), 'bucket'),
    profiles: new ProfileRepository(DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' })), 'table'),
    now: () => RECEIVED,
  };
}

const view = (messageId: string, fields: Record<string, unknown> = {}) => ({
  type: 'track',
  event: 'Product Viewed',
  messageId,
  userId: 'u-1',
  properties: { product_id: 'p-1' },
  timestamp: `${DAY}T09:00:00.000Z`,
  ...fields,
});

/** Messages that fail only because of a channel outside the known ones: a patch can fix them. */
const kiosk = (messageId: string) => view(messageId, { context: { channel: 'kiosk' } });

const profileUpdates = () => ddbMock.commandCalls(UpdateCommand).map((c) => c.args[0].input.ExpressionAttributeNames?.['#mid']);

beforeEach(() => {
  objects.clear();
  memoryBucket(s3Mock, objects);
  ddbMock.on(GetCommand).resolves({});
  ddbMock.on(PutCommand).resolves({});
  ddbMock.on(UpdateCommand).resolves({ Attributes: { profileId: 'p', version: 1, seen: {}, recent: [] } });
});

describe('serialiseJson', () => {
  it('equals JSON.stringify for ordinary values', () => {
    // Prepare
    const values = [null, 1, 'a"b', [1, { a: [true, null] }], { x: undefined, y: 2, z: { w: 'v' } }, { '\ud800': 'lone' }];

    // Act & Assess
    for (const value of values) expect(serialiseJson(value)).toBe(JSON.stringify(value));
  });

  it('serialises nesting far deeper than JSON.stringify can, and JSON.parse reads it back', () => {
    // Prepare
    const depth = 100_000;
    const text = `${'{"a":['.repeat(depth)}1${']}'.repeat(depth)}`;
    const value: unknown = JSON.parse(text);

    // Act
    const out = serialiseJson(value);

    // Assess
    expect(() => JSON.stringify(value)).toThrow(RangeError);
    expect(out).toBe(text);
    expect(nestsDeeperThan(value, 64)).toBe(true);
    expect(nestsDeeperThan({ a: [{ b: 1 }] }, 64)).toBe(false);
  });
});

describe('applyMergePatch', () => {
  // RFC 7386 Appendix A.
  it.each([
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [
      ['a', 'b'],
      ['c', 'd'],
      ['c', 'd'],
    ],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ])('patches %j with %j into %j', (target, patch, expected) => {
    // Act & Assess
    expect(applyMergePatch(target, patch)).toEqual(expected);
  });

  it('never sets a prototype through __proto__, and may delete an own __proto__ key', () => {
    // Prepare
    const target: unknown = JSON.parse('{"a":1,"__proto__":{"polluted":true}}');

    // Act
    const patched = applyMergePatch(target, JSON.parse('{"__proto__":{"admin":true},"constructor":{"x":1}}')) as Record<string, unknown>;
    const cleaned = applyMergePatch(target, JSON.parse('{"__proto__":null}')) as Record<string, unknown>;

    // Assess
    expect(Object.getPrototypeOf(patched)).toBe(Object.prototype);
    expect((patched as { admin?: unknown }).admin).toBeUndefined();
    expect(Object.hasOwn(patched, 'constructor')).toBe(false);
    expect(Object.keys(cleaned)).toEqual(['a']);
    expect(({} as { polluted?: unknown; admin?: unknown }).admin).toBeUndefined();
  });
});

describe('quarantineRows', () => {
  it('writes the same rows to the same key (a retry rewrites, never duplicates)', async () => {
    // Prepare
    const rows = [
      {
        kind: 'message' as const,
        payload: kiosk('m-1'),
        reasons: [{ field: 'context.channel', reason: 'x' }],
        receivedAt: RECEIVED.toISOString(),
        source: 'POST /v1/batch',
      },
    ];

    // Act
    const first = await quarantineRows(deps().blobs, rows);
    const second = await quarantineRows(deps().blobs, rows);

    // Assess
    expect(second).toEqual(first);
    expect([...objects.keys()]).toEqual(first.keys);
    expect(first.keys[0]).toMatch(new RegExp(`^quarantine/dt=${DAY}/[0-9a-f]{32}\\.ndjson\\.gz$`));
  });

  it('seals a message nested too deep to travel as a value, and opens it back byte for byte', async () => {
    // Prepare
    const deep: unknown = JSON.parse(`${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`);

    // Act
    await quarantineRows(deps().blobs, [{ kind: 'message', payload: deep, reasons: [], receivedAt: RECEIVED.toISOString(), source: 's' }]);
    const [row] = await readQuarantineDay(deps().blobs, DAY);

    // Assess
    expect(row?.message).toBeUndefined();
    expect(row?.sealed?.alg).toBe('A256GCM');
    expect(quarantinePayloadJson(row as QuarantineRow)?.length).toBe(10_000 * 6 + 1);
  });

  it('stores no personal identifier in clear: the payload is sealed, identifiers only as keyed hashes', async () => {
    // Prepare
    const hasher = defaultHasher();
    const message = kiosk('m-9');
    Object.assign(message, { userId: 'jane.doe-77', anonymousId: 'anon-jane', traits: { email: 'Jane.Doe@example.com', phone: '+44 7700 900123' } });

    // Act
    await quarantineRows(deps().blobs, [
      { kind: 'message', payload: message, reasons: [{ field: 'context.channel', reason: 'x' }], receivedAt: RECEIVED.toISOString(), source: 'POST /v1/batch' },
    ]);
    const stored = [...objects.values()].map((bytes) => gunzipSync(bytes).toString('utf8')).join('\n');
    const [row] = await readQuarantineDay(deps().blobs, DAY);

    // Assess
    for (const clear of ['jane.doe-77', 'anon-jane', 'jane.doe@example.com', 'Jane.Doe@example.com', '7700', 'kiosk']) expect(stored).not.toContain(clear);
    expect(stored).toContain('"messageId":"m-9"');
    expect(row?.userIdHash).toBe(hasher.hash('userId', 'jane.doe-77').hash);
    expect(row?.identifiers).toEqual(
      expect.arrayContaining([`email:${hasher.hash('email', 'jane.doe@example.com').hash}`, `phone:${hasher.hash('phone', '+447700900123').hash}`]),
    );
    expect(JSON.parse(quarantinePayloadJson(row as QuarantineRow) as string)).toEqual(message);
  });

  it('refuses to open a sealed payload moved to another row (the row id is authenticated)', async () => {
    // Prepare
    await quarantineRows(deps().blobs, [{ kind: 'message', payload: kiosk('m-1'), reasons: [], receivedAt: RECEIVED.toISOString(), source: 's' }]);
    const [row] = await readQuarantineDay(deps().blobs, DAY);

    // Act
    const act = () => quarantinePayloadJson({ ...(row as QuarantineRow), id: 'f'.repeat(32) });

    // Assess
    expect(act).toThrow(QuarantineSealError);
  });
});

describe('listQuarantine', () => {
  it('pages through a day in key and row order with a cursor, marking replayed rows', async () => {
    // Prepare: two requests' worth of rejected messages.
    await captureBatch(deps(), { batch: [kiosk('m-1'), kiosk('m-2'), kiosk('m-3')] });
    await captureBatch(deps(), { batch: [kiosk('m-4'), kiosk('m-5')] });
    const all = await readQuarantineDay(deps().blobs, DAY);
    await replayQuarantine(deps(), { day: DAY, ids: [all[0]?.id as string], patch: { context: { channel: 'pos' } } });

    // Act
    const pages = [];
    let cursor: string | undefined;
    do {
      const page = await listQuarantine(deps().blobs, { day: DAY, limit: 2, ...(cursor ? { cursor } : {}) });
      pages.push(page);
      cursor = page.nextCursor;
    } while (cursor);

    // Assess
    expect(pages.map((p) => p.items.length)).toEqual([2, 2, 1]);
    const items = pages.flatMap((p) => p.items);
    expect(items.map((i) => i.messageId).sort()).toEqual(['m-1', 'm-2', 'm-3', 'm-4', 'm-5']);
    expect(JSON.stringify(items)).not.toContain('"u-1"');
    expect(items.every((i) => i.userIdHash === defaultHasher().hash('userId', 'u-1').hash && i.reasons.length > 0)).toBe(true);
    expect(items.filter((i) => i.replayed).map((i) => i.id)).toEqual([all[0]?.id]);
    expect(new Set(items.map((i) => i.id)).size).toBe(5);
  });

  it('refuses a cursor it did not issue for that day', async () => {
    // Act
    const act = listQuarantine(deps().blobs, { day: DAY, limit: 2, cursor: Buffer.from(JSON.stringify({ k: 'raw/events/x', i: 0 })).toString('base64url') });

    // Assess
    await expect(act).rejects.toThrow(InvalidCursorError);
  });
});

describe('replayQuarantine', () => {
  it('replays patched messages once: accepted, logged, and skipped by the next replay', async () => {
    // Prepare
    await captureBatch({ ...deps(), source: 'POST /v1/batch' }, { batch: [view('m-ok'), kiosk('m-1'), kiosk('m-2')] });
    ddbMock.resetHistory();

    // Act
    const first = await replayQuarantine(deps(), { day: DAY, patch: { context: { channel: 'pos' } } });
    const second = await replayQuarantine(deps(), { day: DAY, patch: { context: { channel: 'pos' } } });

    // Assess
    expect(first).toMatchObject({ considered: 2, replayed: 2, accepted: 2, duplicates: 0, stillRejected: [], remaining: 0, alreadyReplayed: 0 });
    expect(first.logKey).toMatch(new RegExp(`^quarantine/replays/dt=${DAY}/[0-9a-f]{32}\\.json$`));
    expect(second).toMatchObject({ considered: 0, replayed: 0, alreadyReplayed: 2 });
    expect(second.logKey).toBeUndefined();
    expect(profileUpdates().sort()).toEqual(['m-1', 'm-2']);
    expect((await replayedIds(deps().blobs, DAY)).size).toBe(2);
  });

  it('leaves rows that still fail in the quarantine with their reasons, unreplayed', async () => {
    // Prepare
    await captureBatch(deps(), { batch: [kiosk('m-1')] });

    // Act
    const report = await replayQuarantine(deps(), { day: DAY });

    // Assess
    expect(report).toMatchObject({
      considered: 1,
      replayed: 0,
      accepted: 0,
      stillRejected: [{ issues: [{ field: 'context.channel', reason: expect.stringContaining('must be one of') }] }],
    });
    expect(report.logKey).toBeUndefined();
    expect((await listQuarantine(deps().blobs, { day: DAY, limit: 10 })).items.map((i) => i.replayed)).toEqual([false]);
  });

  it('replays only the ids asked for, reports unknown ids, and respects the limit', async () => {
    // Prepare
    await captureBatch(deps(), { batch: [kiosk('m-1'), kiosk('m-2'), kiosk('m-3')] });
    const ids = (await readQuarantineDay(deps().blobs, DAY)).map((r) => r.id);

    // Act
    const report = await replayQuarantine(deps(), {
      day: DAY,
      ids: [ids[0] as string, ids[1] as string, 'f'.repeat(32)],
      patch: { context: { channel: 'web' } },
      limit: 1,
    });

    // Assess
    expect(report).toMatchObject({ considered: 1, replayed: 1, remaining: 1, notFound: ['f'.repeat(32)] });
  });

  it('lists a row written before sealing without its clear payload, and still replays it', async () => {
    // Prepare: the clear row format of earlier releases.
    const legacy = {
      id: 'a'.repeat(32),
      kind: 'message',
      message: kiosk('m-old'),
      reasons: [{ field: 'context.channel', reason: 'x' }],
      receivedAt: RECEIVED.toISOString(),
      source: 'POST /v1/batch',
    };
    objects.set(`quarantine/dt=${DAY}/legacy.ndjson.gz`, gzipSync(JSON.stringify(legacy)));

    // Act
    const page = await listQuarantine(deps().blobs, { day: DAY, limit: 10 });
    const report = await replayQuarantine(deps(), { day: DAY, patch: { context: { channel: 'pos' } } });

    // Assess
    expect(JSON.stringify(page)).not.toContain('u-1');
    expect(page.items[0]).toMatchObject({ id: legacy.id, messageId: 'm-old', userIdHash: defaultHasher().hash('userId', 'u-1').hash });
    expect(report).toMatchObject({ replayed: 1, accepted: 1 });
  });

  it('re-runs a message rejected before a code or config fix with its original receivedAt and sentAt', async () => {
    // Prepare: a row as an older release would have quarantined a now-valid message.
    await quarantineRows(deps().blobs, [
      {
        kind: 'message',
        payload: view('m-1', { timestamp: `${DAY}T09:00:00.000Z` }),
        reasons: [{ field: 'properties', reason: 'an old rule' }],
        receivedAt: `${DAY}T10:00:00.000Z`,
        sentAt: `${DAY}T08:00:00.000Z`,
        source: 'POST /v1/batch',
      },
    ]);
    const puts = () => s3Mock.commandCalls(PutObjectCommand).filter((c) => String(c.args[0].input.Key).startsWith('raw/events/'));

    // Act
    const report = await replayQuarantine({ ...deps(), now: () => new Date('2026-03-20T00:00:00.000Z') }, { day: DAY });

    // Assess: skew-corrected as on arrival (10:00 − (08:00 − 09:00) = 11:00), not against the replay time.
    expect(report.accepted).toBe(1);
    const { gunzipSync } = await import('node:zlib');
    const stored = JSON.parse(gunzipSync(puts()[0]?.args[0].input.Body as Uint8Array).toString('utf8')) as { timestamp: string; receivedAt: string };
    expect(stored).toMatchObject({ timestamp: `${DAY}T11:00:00.000Z`, receivedAt: `${DAY}T10:00:00.000Z` });
  });

  it('splits a replayed request row into messages: the valid ones captured, the invalid ones quarantined as message rows', async () => {
    // Prepare: a batch refused whole for an unknown envelope field.
    await quarantineRows(deps().blobs, [
      {
        kind: 'request',
        payload: { batch: [view('m-1'), { type: 'track', messageId: 'm-2', userId: 'u-1' }], events: [] },
        reasons: [{ field: 'events', reason: 'unknown field' }],
        receivedAt: RECEIVED.toISOString(),
        source: 'POST /v1/batch',
      },
    ]);

    // Act
    const unpatched = await replayQuarantine(deps(), { day: DAY });
    const patched = await replayQuarantine(deps(), { day: DAY, patch: { events: null } });

    // Assess
    expect(unpatched).toMatchObject({ replayed: 0, stillRejected: [{ issues: [{ field: 'events', reason: 'unknown field' }] }] });
    expect(patched).toMatchObject({ considered: 1, replayed: 1, accepted: 1, requarantined: 1 });
    const rows = await readQuarantineDay(deps().blobs, DAY);
    expect(rows.map((r) => [r.kind, r.source.startsWith('replay:')])).toEqual(expect.arrayContaining([['message', true]]));
    expect(profileUpdates()).toEqual(['m-1']);
  });

  it('keeps a request row whose text is still not JSON', async () => {
    // Prepare
    await quarantineRows(deps().blobs, [
      {
        kind: 'request',
        payload: '{"batch": [',
        reasons: [{ field: 'body', reason: 'malformed' }],
        receivedAt: RECEIVED.toISOString(),
        source: 'POST /v1/batch',
      },
    ]);

    // Act
    const report = await replayQuarantine(deps(), { day: DAY });

    // Assess
    expect(report).toMatchObject({ replayed: 0, stillRejected: [{ issues: [{ field: 'body', reason: expect.stringContaining('malformed JSON') }] }] });
  });
});

describe('the quarantine API', () => {
  const api = (auth = authConfig('ADMIN_KEYS', { ADMIN_KEYS: 'admin-secret' })): QuarantineApiDeps => ({ ...deps(), auth });
  const bearer = { authorization: 'Bearer admin-secret' };

  it('refuses without an admin key (401, with a reason) and with a write key', async () => {
    // Act
    const none = handleQuarantine(api(), apiEvent({ method: 'GET', path: '/v1/quarantine', queryStringParameters: { day: DAY }, credential: false }));
    const wrong = handleQuarantine(
      api(),
      apiEvent({ method: 'GET', path: '/v1/quarantine', queryStringParameters: { day: DAY }, headers: { authorization: 'Bearer wk_write' } }),
    );

    // Assess
    await expect(none).rejects.toMatchObject({ statusCode: 401, message: expect.stringContaining('admin key is required') });
    await expect(wrong).rejects.toMatchObject({ statusCode: 401 });
  });

  it('answers 400 naming the field for a bad day, limit or cursor', async () => {
    // Prepare
    const queries: Record<string, string>[] = [{ day: '2026-02-30' }, { day: DAY, limit: '0' }, { day: DAY, cursor: 'not-a-cursor' }];

    // Act
    const attempts = queries.map((query) =>
      handleQuarantine(api(), apiEvent({ method: 'GET', path: '/v1/quarantine', queryStringParameters: query, headers: bearer })).catch((e: unknown) => e),
    );

    // Assess
    const errors = (await Promise.all(attempts)) as { statusCode: number; message: string }[];
    expect(errors.map((e) => e.statusCode)).toEqual([400, 400, 400]);
    expect(errors.map((e) => (JSON.parse(e.message) as { issues: { field: string }[] }).issues[0]?.field)).toEqual(['day', 'limit', 'cursor']);
  });

  it('lists and replays with an admin key, and refuses a patch that would poison a prototype', async () => {
    // Prepare
    await captureBatch(deps(), { batch: [kiosk('m-1')] });
    const replay = (body: string) => handleQuarantine(api(), apiEvent({ method: 'POST', path: '/v1/quarantine/replay', body, headers: bearer }));

    // Act
    const page = await handleQuarantine(
      api(),
      apiEvent({ method: 'GET', path: '/v1/quarantine', queryStringParameters: { day: DAY, limit: '10' }, headers: bearer }),
    );
    const hostile = await replay(`{"day":"${DAY}","patch":{"__proto__":{"admin":true}}}`).catch((e: unknown) => e as { statusCode: number; message: string });
    const report = await replay(JSON.stringify({ day: DAY, patch: { context: { channel: 'pos' } } }));

    // Assess
    expect('items' in page && page.items).toHaveLength(1);
    expect(hostile).toMatchObject({ statusCode: 400 });
    expect((JSON.parse((hostile as { message: string }).message) as { issues: { field: string }[] }).issues[0]?.field).toBe('patch');
    expect(report).toMatchObject({ replayed: 1, accepted: 1 });
  });
});
