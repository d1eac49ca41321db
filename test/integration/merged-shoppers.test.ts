/**
 * Issue 3: a shopper whose events were captured under two profiles before `identify` merged them is
 * ONE user in the deployed batch jobs. Everything runs on the embedded local stack: capture over real
 * HTTP, the identity graph in dynalite writing the redirect into the sparse `mergedInto` index of
 * serverless.yml's ProfilesTable, and the real handlers (with their serverless.yml environment) of
 * prepareSnapshot, buildFeatures and the distributed feature job (featurePartition + featureReduce,
 * driven as the features state machine's Distributed Map would).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type AttributeValue, DescribeTableCommand, type DynamoDBClient, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetClients, s3Client } from '../../shared/aws/clients';
import type { CanonicalEvent } from '../../shared/events/canonical';
import { readRawEvents, RAW_EVENTS_PREFIX } from '../../shared/capture/raw-events';
import type { FeatureManifest, ItemFeatures, UserFeatures } from '../../shared/features/build';
import { loadMergeRedirects } from '../../shared/profiles/redirects';
import {
  addMissingIndexes,
  createLocalDynamoDbClient,
  ensureTables,
  type LocalStack,
  loadServerlessConfig,
  type ServerlessConfig,
  startEmulators,
  startLocalStack,
  type TableConfig,
} from '../../shared/local';
import type { Profile } from '../../shared/profiles/profile';
import { BlobStore } from '../../shared/storage/blob';
import type { Interaction, SnapshotManifest } from '../../shared/snapshots/snapshot';

const projectRoot = resolve(import.meta.dirname, '../..');

describe('merged shoppers in the batch jobs (local stack, real HTTP capture)', () => {
  let stack: LocalStack;
  let dataDir: string;
  let blobs: BlobStore;
  let seq = 0;

  const send = async (batch: Record<string, unknown>[]) => {
    const response = await fetch(`${stack.url}/v1/batch`, { method: 'POST', body: JSON.stringify({ batch }) });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { accepted: number };
    expect(body.accepted).toBe(batch.length);
  };
  const track = (who: Record<string, unknown>, day: number, event: string, properties: Record<string, unknown>, channel: string) => ({
    type: 'track',
    event,
    messageId: `merged-${++seq}`,
    timestamp: new Date(Date.UTC(2026, 2, day, 10, seq)).toISOString(),
    properties,
    context: { channel },
    ...who,
  });
  const profileOf = async (identifier: string) => {
    const response = await fetch(`${stack.url}/v1/profiles?identifier=${encodeURIComponent(identifier)}`);
    expect(response.status).toBe(200);
    return ((await response.json()) as { profile: Profile }).profile;
  };
  const features = async (manifest: FeatureManifest) => ({
    users: await blobs.getNdjson<UserFeatures>(manifest.usersKey),
    items: await blobs.getNdjson<ItemFeatures>(manifest.itemsKey),
  });

  beforeAll(async () => {
    process.env.LOG_LEVEL = 'ERROR';
    process.env.METRICS_DISABLED = 'true';
    dataDir = mkdtempSync(join(tmpdir(), 'merged-shoppers-'));
    stack = await startLocalStack({ projectRoot, dataDir, port: 0, stage: 'mergedtest', quiet: true });
    resetClients();
    blobs = new BlobStore(s3Client(), stack.config.provider.environment.DATA_BUCKET as string);
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('counts the anonymous browser and the logged-in buyer that identify links as ONE user holding both histories', async () => {
    // Prepare: A browses the web shop anonymously, U buys in the app, a bystander browses too
    const anon = { anonymousId: 'anon-device-a' };
    const user = { userId: 'shopper-u' };
    await send([
      track(anon, 2, 'Product Viewed', { product_id: 'SKU-1', price: 30, category: 'shoes' }, 'web'),
      track(anon, 2, 'Product Viewed', { product_id: 'SKU-2', price: 45, category: 'bags' }, 'web'),
      track(anon, 3, 'Product Added', { product_id: 'SKU-2', price: 45, category: 'bags', quantity: 1 }, 'web'),
      track(anon, 3, 'Product Viewed', { product_id: 'SKU-3', price: 12, category: 'hats' }, 'web'),
    ]);
    await send([
      track(user, 4, 'Product Viewed', { product_id: 'SKU-2', price: 45, category: 'bags' }, 'app'),
      track(user, 4, 'Order Completed', { order_id: 'o-1', revenue: 45, products: [{ product_id: 'SKU-2', price: 45, category: 'bags', quantity: 1 }] }, 'app'),
      track({ userId: 'bystander' }, 5, 'Product Viewed', { product_id: 'SKU-1', price: 30, category: 'shoes' }, 'web'),
    ]);
    const absorbed = (await profileOf('anonymousId:anon-device-a')).profileId;
    const survivor = (await profileOf('userId:shopper-u')).profileId;
    const bystander = (await profileOf('userId:bystander')).profileId;
    expect(absorbed).not.toBe(survivor);

    // Act: identify links the device to the account (the merge), then the batch jobs run
    await send([{ type: 'identify', messageId: `merged-${++seq}`, ...user, ...anon, timestamp: '2026-03-05T12:00:00.000Z', context: { channel: 'web' } }]);
    const state = (await stack.invoke('prepareSnapshot', { request: {}, runId: 'merged-shoppers' })) as { snapshot: SnapshotManifest };
    const single = ((await stack.invoke('buildFeatures', { source: 'schedule' })) as { features: FeatureManifest }).features;
    const keys = await blobs.listKeys(RAW_EVENTS_PREFIX);
    await stack.invoke('featurePartition', { Items: keys.map((Key) => ({ Key })), BatchInput: { jobId: 'merged-job', request: {} } });
    const distributed = (await stack.invoke('featureReduce', { jobId: 'merged-job', request: {} })) as FeatureManifest;

    // Assess: the merge happened, and raw storage still holds the events under both capture-time ids
    const merged = await profileOf('anonymousId:anon-device-a');
    expect(merged.profileId).toBe(survivor);
    expect(merged.mergedFrom).toContain(absorbed);
    const raw = await readRawEvents(blobs);
    const rawOf = (id: string) => raw.filter((e: CanonicalEvent) => e.profileId === id);
    expect(rawOf(absorbed)).toHaveLength(4);
    expect(rawOf(survivor).length).toBeGreaterThanOrEqual(2);

    // ... the snapshot: one user with the interactions of both, none under the absorbed id
    const interactions = await blobs.getNdjson<Interaction>(state.snapshot.interactionsKey);
    expect(interactions.filter((x) => x.p === absorbed)).toEqual([]);
    const shopper = interactions.filter((x) => x.p === survivor);
    expect(shopper.map((x) => [x.i, x.t, x.c])).toEqual([
      ['SKU-1', 'view', 'web'],
      ['SKU-2', 'view', 'web'],
      ['SKU-2', 'add_to_cart', 'web'],
      ['SKU-3', 'view', 'web'],
      ['SKU-2', 'view', 'app'],
      ['SKU-2', 'purchase', 'app'],
    ]);
    expect(new Set(interactions.map((x) => x.p))).toEqual(new Set([survivor, bystander]));
    expect(state.snapshot.counts.users).toBe(2);

    // ... the single-Lambda and the distributed feature jobs: one row for the shopper, both histories in it
    for (const manifest of [single, distributed]) {
      const { users, items } = await features(manifest);
      expect(users.map((u) => u.profileId).sort()).toEqual([survivor, bystander].sort());
      expect(manifest.counts.users).toBe(2);
      const row = users.find((u) => u.profileId === survivor);
      expect(row).toMatchObject({
        events: rawOf(absorbed).length + rawOf(survivor).length,
        views: 4,
        addsToCart: 1,
        purchases: 1,
        orders: 1,
        revenue: 45,
        distinctItems: 3,
        channels: ['app', 'web'],
        firstSeen: rawOf(absorbed)[0]?.timestamp,
      });
      // SKU-2 was viewed by the device and by the account: one viewer, who bought it
      expect(items.find((f) => f.itemId === 'SKU-2')).toMatchObject({ views: 2, viewers: 1, buyers: 1, conversionRate: 1 });
      expect(items.find((f) => f.itemId === 'SKU-1')).toMatchObject({ viewers: 2 });
    }
    expect(await features(distributed)).toEqual(await features(single));
  }, 60_000);

  it('holds the redirect, and only redirects, in the sparse mergedInto index', async () => {
    // Prepare
    const table = stack.config.tables.find((t) => t.logicalId === 'ProfilesTable') as TableConfig;
    const index = stack.config.functions.prepareSnapshot?.environment.PROFILES_MERGED_INDEX as string;
    const ddb = DynamoDBDocumentClient.from(stack.emulators.dynamodbClient());

    // Act
    const all = await stack.emulators.dynamodbClient().send(new ScanCommand({ TableName: table.TableName, IndexName: index }));
    const loaded = await loadMergeRedirects(ddb, table.TableName, index);

    // Assess
    const survivor = (await profileOf('userId:shopper-u')).profileId;
    expect(all.Items?.map((i) => i.mergedInto?.S)).toEqual([survivor]);
    expect([...loaded.redirects.values()]).toEqual([survivor]);
    expect(loaded.skipped).toEqual([]);
  });
});

describe('a profiles table persisted before the index existed (local data dir)', () => {
  const withoutIndexes = (config: ServerlessConfig): ServerlessConfig => ({
    ...config,
    tables: config.tables.map(({ GlobalSecondaryIndexes: _g, ...t }) => ({
      ...t,
      AttributeDefinitions: t.AttributeDefinitions.filter((a) => t.KeySchema.some((k) => k.AttributeName === a.AttributeName)),
    })),
  });
  const items: Record<string, AttributeValue>[] = [
    { pk: { S: 'PROFILE#p_old' }, sk: { S: 'PROFILE' }, profileId: { S: 'p_old' }, status: { S: 'merged' }, mergedInto: { S: 'p_new' } },
    { pk: { S: 'PROFILE#p_new' }, sk: { S: 'PROFILE' }, profileId: { S: 'p_new' }, id_userId: { SS: ['h1', 'h2'] }, blob: { B: new Uint8Array([0, 255]) } },
    { pk: { S: 'IDENT#userId#h1' }, sk: { S: 'LINK' }, profileId: { S: 'p_new' } },
  ];
  const tableItems = async (client: DynamoDBClient, name: string) =>
    ((await client.send(new ScanCommand({ TableName: name, ConsistentRead: true }))).Items ?? []).sort((a, b) =>
      String(a.pk?.S).localeCompare(String(b.pk?.S)),
    );
  let dataDir: string;
  let config: ServerlessConfig;
  let table: TableConfig;

  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'reindex-'));
    config = loadServerlessConfig(join(projectRoot, 'serverless.yml'), { stage: 'reindex' });
    table = config.tables.find((t) => t.logicalId === 'ProfilesTable') as TableConfig;
  });

  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('gets the index on the next start, with every item kept', async () => {
    // Prepare: the data dir of an earlier version (no index), with a redirect in it
    const before = await startEmulators({ dataDir, config: withoutIndexes(config), setEnv: false });
    for (const Item of items) await before.dynamodbClient().send(new PutItemCommand({ TableName: table.TableName, Item }));
    const stored = await tableItems(before.dynamodbClient(), table.TableName);
    await before.stop();

    // Act
    const after = await startEmulators({ dataDir, config, setEnv: false });
    try {
      const described = await after.dynamodbClient().send(new DescribeTableCommand({ TableName: table.TableName }));
      const loaded = await loadMergeRedirects(DynamoDBDocumentClient.from(after.dynamodbClient()), table.TableName, 'by-merged-into');

      // Assess
      expect(described.Table?.GlobalSecondaryIndexes?.map((g) => g.IndexName)).toEqual(['by-merged-into']);
      expect(await tableItems(after.dynamodbClient(), table.TableName)).toEqual(stored);
      expect(Object.fromEntries(loaded.redirects)).toEqual({ p_old: 'p_new' });
      expect(readdirSync(join(dataDir, 'dynamodb-reindex'))).toEqual([]);
    } finally {
      await after.stop();
    }
  });

  it('finishes a re-index interrupted after the table was deleted, from the saved items', async () => {
    // Prepare: a table without the index; the re-index dies on CreateTable (after the delete)
    const dir = mkdtempSync(join(tmpdir(), 'reindex-crash-'));
    const emulators = await startEmulators({ dataDir: dir, config: withoutIndexes(config), setEnv: false });
    try {
      const client = emulators.dynamodbClient();
      for (const Item of items) await client.send(new PutItemCommand({ TableName: table.TableName, Item }));
      const stored = await tableItems(client, table.TableName);
      const crashing = createLocalDynamoDbClient(emulators.dynamodbEndpoint, emulators.region);
      crashing.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'CreateTableCommand') throw new Error('killed while re-indexing');
          return next(args);
        },
        { step: 'initialize' },
      );
      const reindexDir = join(dir, 'dynamodb-reindex');
      await expect(addMissingIndexes(crashing, table, reindexDir)).rejects.toThrow(/killed while re-indexing/);
      crashing.destroy();

      // Act: the next start creates the table (with its index) and refills it
      const restarted = await ensureTables(client, [table], { reindexDir });

      // Assess
      expect(restarted).toEqual([table.TableName]);
      expect(await tableItems(client, table.TableName)).toEqual(stored);
      const loaded = await loadMergeRedirects(DynamoDBDocumentClient.from(client), table.TableName, 'by-merged-into');
      expect(Object.fromEntries(loaded.redirects)).toEqual({ p_old: 'p_new' });
      expect(readdirSync(reindexDir)).toEqual([]);
    } finally {
      await emulators.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
