/**
 * One registry test suite, run against each object store backend (Gorse style):
 * - memory: MemoryObjectStore;
 * - s3-native: S3ObjectStore in native mode over a mocked S3Client instance that answers conditional
 *   writes like Amazon S3 (412 PreconditionFailed, 404 on If-Match of a missing key);
 * - s3rver-emulated: S3ObjectStore in emulated mode over a real s3rver (it ignores the headers).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalS3Client } from '../../../../shared/local/emulators';
import { MemoryObjectStore } from '../../../../shared/storage/memory-object-store';
import { md5Hex, type ObjectStore, PreconditionFailedError } from '../../../../shared/storage/object-store';
import { S3ObjectStore } from '../../../../shared/storage/s3-object-store';
import { AliasConflictError, ImmutableVersionError, type ModelCard, ModelRegistry, UnknownVersionError } from '../../../../shared/registry/registry';

const BUCKET = 'registry-test-bucket';

/** An S3Client instance whose commands behave like Amazon S3 with conditional writes, in memory. */
function conditionalS3() {
  const client = new S3Client({ region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
  const mock = mockClient(client);
  const objects = new Map<string, { body: Uint8Array; etag: string; lastModified: Date }>();
  const fail = (status: number, name: string) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
  const tick = () => new Promise((resolve) => setImmediate(resolve));
  mock.on(PutObjectCommand).callsFake(async (input) => {
    await tick();
    const key = input.Key as string;
    const current = objects.get(key);
    if (input.IfNoneMatch === '*' && current) throw fail(412, 'PreconditionFailed');
    if (input.IfMatch !== undefined) {
      if (!current) throw fail(404, 'NoSuchKey');
      if (input.IfMatch !== `"${current.etag}"`) throw fail(412, 'PreconditionFailed');
    }
    const body = new Uint8Array(input.Body as Uint8Array);
    const etag = md5Hex(body);
    objects.set(key, { body, etag, lastModified: new Date() });
    return { ETag: `"${etag}"` };
  });
  mock.on(GetObjectCommand).callsFake(async (input) => {
    await tick();
    const o = objects.get(input.Key as string);
    if (!o) throw fail(404, 'NoSuchKey');
    return { Body: { transformToByteArray: async () => o.body.slice() }, ETag: `"${o.etag}"`, LastModified: o.lastModified };
  });
  mock.on(HeadObjectCommand).callsFake(async (input) => {
    await tick();
    const o = objects.get(input.Key as string);
    if (!o) throw fail(404, 'NotFound');
    return { ETag: `"${o.etag}"`, ContentLength: o.body.byteLength, LastModified: o.lastModified };
  });
  mock.on(DeleteObjectCommand).callsFake(async (input) => {
    await tick();
    objects.delete(input.Key as string);
    return {};
  });
  mock.on(ListObjectsV2Command).callsFake(async (input) => {
    await tick();
    const prefix = input.Prefix ?? '';
    const keys = [...objects.keys()].filter((k) => k.startsWith(prefix)).sort();
    if (input.Delimiter) {
      const folders = [
        ...new Set(
          keys
            .map((k) => k.slice(prefix.length))
            .filter((r) => r.includes('/'))
            .map((r) => `${prefix}${r.slice(0, r.indexOf('/') + 1)}`),
        ),
      ];
      return { CommonPrefixes: folders.map((Prefix) => ({ Prefix })), Contents: [], IsTruncated: false };
    }
    return {
      Contents: keys.map((Key) => ({
        Key,
        ETag: `"${objects.get(Key)?.etag}"`,
        Size: objects.get(Key)?.body.byteLength,
        LastModified: objects.get(Key)?.lastModified,
      })),
      IsTruncated: false,
    };
  });
  return { client, mock };
}

const backends: { name: string; create: () => ObjectStore }[] = [];
let s3rver: S3rver | undefined;
let s3rverDir: string;
let s3rverClient: S3Client;
const native = conditionalS3();
backends.push({ name: 'memory', create: () => new MemoryObjectStore() });
backends.push({
  name: 's3-native (mocked S3 with conditional writes)',
  create: () => new S3ObjectStore(native.client, BUCKET, { conditionalWrites: 'native' }),
});
backends.push({ name: 's3rver-emulated', create: () => new S3ObjectStore(s3rverClient, BUCKET, { conditionalWrites: 'emulated' }) });

beforeAll(async () => {
  s3rverDir = mkdtempSync(join(tmpdir(), 'registry-s3rver-'));
  s3rver = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: s3rverDir, resetOnClose: true });
  const { port } = await s3rver.run();
  s3rverClient = createLocalS3Client(`http://127.0.0.1:${port}`, 'eu-west-1');
  await s3rverClient.send(new CreateBucketCommand({ Bucket: BUCKET }));
});

afterAll(async () => {
  s3rverClient?.destroy();
  s3rver?.httpServer?.closeIdleConnections();
  await s3rver?.close();
  rmSync(s3rverDir, { recursive: true, force: true });
});

let familyCounter = 0;
/** A fresh family per test: the backends keep their objects for the whole file. */
const freshFamily = () => `fam${++familyCounter}`;

function card(family: string, version: string, extra: Partial<ModelCard> = {}): ModelCard {
  return {
    family,
    version,
    createdAt: '2026-10-01T00:00:00.000Z',
    algorithm: 'test',
    hyperparameters: { lambda: 50 },
    signature: { inputs: [{ name: 'item_ids', type: 'int64', shape: [1, 'L'] }], outputs: [{ name: 'scores', type: 'float32', shape: [1, 3] }] },
    data: { snapshot: 's1', asOf: '2026-10-01T00:00:00.000Z', holdoutStart: '2026-09-24T00:00:00.000Z', users: 3, items: 3, interactions: 9 },
    trainingSeconds: 1.5,
    codeVersion: 'test@1',
    ...extra,
  };
}

async function addVersions(registry: ModelRegistry, family: string, versions: string[]) {
  for (const v of versions) {
    await registry.putArtifact(family, v, 'model.onnx', Uint8Array.from([1, 2, 3, v.length]));
    await registry.putCard(card(family, v));
  }
}

describe('s3rver and conditional writes', () => {
  it('ignores If-None-Match and If-Match on PutObject (why the emulated mode exists)', async () => {
    // Prepare
    const key = 'probe/conditional.txt';
    await s3rverClient.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'one', IfNoneMatch: '*' }));

    // Act
    const second = await s3rverClient.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'two', IfNoneMatch: '*' }));
    const third = await s3rverClient.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'three', IfMatch: '"0123456789abcdef0123456789abcdef"' }));

    // Assess: both writes went through. If this ever fails, s3rver honours the headers and native mode can be used locally.
    expect(second.ETag).toBeDefined();
    expect(third.ETag).toBeDefined();
  });
});

describe.each(backends)('model registry on $name', ({ create }) => {
  it('refuses a second create-only write with other bytes and accepts an identical retry', async () => {
    // Prepare
    const store = create();
    const family = freshFamily();
    await store.put(`${family}/x`, Uint8Array.from([1]), { ifNoneMatch: '*' });

    // Act
    const conflict = await store.put(`${family}/x`, Uint8Array.from([2]), { ifNoneMatch: '*' }).catch((e: unknown) => e);
    const registry = new ModelRegistry(store);
    await registry.putArtifact(family, 'v1', 'model.onnx', Uint8Array.from([9, 9]));
    await registry.putArtifact(family, 'v1', 'model.onnx', Uint8Array.from([9, 9]));
    const overwrite = await registry.putArtifact(family, 'v1', 'model.onnx', Uint8Array.from([9, 8])).catch((e: unknown) => e);

    // Assess
    expect(conflict).toBeInstanceOf(PreconditionFailedError);
    expect(overwrite).toBeInstanceOf(ImmutableVersionError);
    expect(await registry.getModelBytes(family, 'v1')).toEqual(Uint8Array.from([9, 9]));
  });

  it('compares JSON artifacts by content, so a retry with another key order is accepted', async () => {
    // Prepare
    const registry = new ModelRegistry(create());
    const family = freshFamily();
    await registry.putArtifact(family, 'v1', 'items.json', { itemIds: ['a'], popularity: [1] });

    // Act
    await registry.putArtifact(family, 'v1', 'items.json', { popularity: [1], itemIds: ['a'] });
    const changed = await registry.putArtifact(family, 'v1', 'items.json', { itemIds: ['b'], popularity: [1] }).catch((e: unknown) => e);

    // Assess
    expect(changed).toBeInstanceOf(ImmutableVersionError);
  });

  it('lets a card gain its evaluation once but never change a written field', async () => {
    // Prepare
    const registry = new ModelRegistry(create());
    const family = freshFamily();
    await registry.putCard(card(family, 'v1'));
    const evaluated = card(family, 'v1', { metrics: { 'NDCG@10': 0.3, count: 20 }, gate: { passed: true, reasons: ['ok'] } });

    // Act
    await registry.putCard(evaluated);
    await registry.putCard(evaluated);
    const changedIdentity = await registry.putCard({ ...evaluated, trainingSeconds: 2 }).catch((e: Error) => e);
    const changedMetrics = await registry.putCard({ ...evaluated, metrics: { 'NDCG@10': 0.9, count: 20 } }).catch((e: Error) => e);

    // Assess
    expect(await registry.getCard(family, 'v1')).toEqual(evaluated);
    expect(changedIdentity).toBeInstanceOf(ImmutableVersionError);
    expect((changedIdentity as Error).message).toMatch(/trainingSeconds cannot change/);
    expect((changedMetrics as Error).message).toMatch(/already recorded/);
  });

  it('moves an alias with history, previous pointers and a no-op for the version it already has', async () => {
    // Prepare
    const registry = new ModelRegistry(create());
    const family = freshFamily();
    await addVersions(registry, family, ['v1', 'v2']);
    const t = new Date('2026-10-02T00:00:00.000Z');

    // Act
    const first = await registry.setAlias(family, 'champion', 'v1', 'first', t);
    const second = await registry.setAlias(family, 'champion', 'v2', 'better', t);
    const again = await registry.setAlias(family, 'champion', 'v2', 'retry of the promotion', t);
    const history = await registry.getAliasHistory(family, 'champion');

    // Assess
    expect(first).toEqual({ version: 'v1', updatedAt: '2026-10-02T00:00:00.000Z', reason: 'first' });
    expect(second).toMatchObject({ version: 'v2', previous: 'v1', reason: 'better' });
    expect(Date.parse(second.updatedAt)).toBeGreaterThan(Date.parse(first.updatedAt));
    expect(again).toEqual(second);
    expect(history.map((h) => h.version)).toEqual(['v1', 'v2']);
    expect(await registry.listVersions(family)).toEqual(['v1', 'v2']);
    expect(await registry.listFamilies()).toContain(family);
  });

  it('refuses an alias to a version that does not exist and names bad identifiers', async () => {
    // Prepare
    const registry = new ModelRegistry(create());
    const family = freshFamily();

    // Act
    const unknown = await registry.setAlias(family, 'champion', 'v404', 'nope').catch((e: unknown) => e);
    const traversal = await registry.putArtifact('../etc', 'v1', 'model.onnx', Uint8Array.from([1])).catch((e: unknown) => e);
    const badName = await registry.putArtifact(family, 'v1', '../card.json', Uint8Array.from([1])).catch((e: unknown) => e);

    // Assess
    expect(unknown).toBeInstanceOf(UnknownVersionError);
    expect(traversal).toMatchObject({ name: 'RegistryInputError', field: 'family' });
    expect(badName).toMatchObject({ name: 'RegistryInputError', field: 'name' });
  });

  it('compare-and-set: concurrent moves from the same champion, exactly one wins', async () => {
    // Prepare
    const registry = new ModelRegistry(create());
    const family = freshFamily();
    const targets = ['v2', 'v3', 'v4', 'v5', 'v6', 'v7'];
    await addVersions(registry, family, ['v1', ...targets]);
    await registry.setAlias(family, 'champion', 'v1', 'initial');

    // Act
    const results = await Promise.allSettled(targets.map((v) => registry.compareAndSetAlias(family, 'champion', 'v1', v, `promote ${v}`)));

    // Assess
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(targets.length - 1);
    for (const r of lost) expect(r.reason).toBeInstanceOf(AliasConflictError);
    const winner = (won[0] as PromiseFulfilledResult<{ version: string }>).value.version;
    expect((await registry.getAlias(family, 'champion'))?.version).toBe(winner);
    expect((await registry.getAliasHistory(family, 'champion')).map((h) => h.version)).toEqual(['v1', winner]);
  });

  it('compare-and-set: a retry of a move that happened returns it; a stale expectation is a conflict', async () => {
    // Prepare
    const registry = new ModelRegistry(create());
    const family = freshFamily();
    await addVersions(registry, family, ['v1', 'v2', 'v3']);
    await registry.compareAndSetAlias(family, 'champion', null, 'v1', 'first');
    const moved = await registry.compareAndSetAlias(family, 'champion', 'v1', 'v2', 'second');

    // Act
    const retried = await registry.compareAndSetAlias(family, 'champion', 'v1', 'v2', 'second');
    const stale = await registry.compareAndSetAlias(family, 'champion', 'v1', 'v3', 'third').catch((e: unknown) => e);
    const notNew = await registry.compareAndSetAlias(family, 'champion', null, 'v3', 'create').catch((e: unknown) => e);

    // Assess
    expect(retried).toEqual(moved);
    expect(stale).toMatchObject({ name: 'AliasConflictError', expected: 'v1', actual: 'v2' });
    expect(notNew).toBeInstanceOf(AliasConflictError);
  });

  it('setAlias under contention: every move lands once, in a consistent previous chain', async () => {
    // Prepare
    const registry = new ModelRegistry(create());
    const family = freshFamily();
    const targets = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6'];
    await addVersions(registry, family, targets);

    // Act
    await Promise.all(targets.map((v) => registry.setAlias(family, 'challenger', v, `set ${v}`)));
    const history = await registry.getAliasHistory(family, 'challenger');

    // Assess
    expect(history.map((h) => h.version).sort()).toEqual(targets);
    for (const [i, move] of history.entries()) expect(move.previous).toBe(i === 0 ? undefined : history[i - 1]?.version);
    expect((await registry.getAlias(family, 'challenger'))?.version).toBe(history.at(-1)?.version);
  });
});

describe('native conditional writes', () => {
  it('sends If-None-Match for version objects and If-Match with the ETag for alias moves', async () => {
    // Prepare
    native.mock.resetHistory();
    const registry = new ModelRegistry(new S3ObjectStore(native.client, BUCKET, { conditionalWrites: 'native' }));
    const family = freshFamily();
    await addVersions(registry, family, ['v1', 'v2']);
    await registry.setAlias(family, 'champion', 'v1', 'first');

    // Act
    await registry.setAlias(family, 'champion', 'v2', 'second');

    // Assess
    const puts = native.mock.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    const versionPuts = puts.filter((p) => p.Key?.includes('/versions/'));
    expect(versionPuts.length).toBeGreaterThan(0);
    for (const p of versionPuts) expect(p.IfNoneMatch).toBe('*');
    const aliasPuts = puts.filter((p) => p.Key === `models/${family}/aliases/champion.json`);
    expect(aliasPuts[0]?.IfNoneMatch).toBe('*');
    expect(aliasPuts[1]?.IfMatch).toMatch(/^"[0-9a-f]{32}"$/);
  });
});
