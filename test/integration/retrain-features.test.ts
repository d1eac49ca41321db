/**
 * The distributed feature job's two Lambdas (featurePartition, featureReduce of serverless.yml) against
 * the local stack, driven the way the `features` state machine's Distributed Map drives them (the
 * ItemReader's listing of raw/events/, ItemBatcher batches, then the reduce) — aws-local-stepfunctions
 * cannot run ItemReader, so this test plays that part. The result must equal what the single-Lambda
 * feature job (buildFeatures) writes from the same events.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetClients, s3Client } from '../../shared/aws/clients';
import type { CanonicalEvent } from '../../shared/events/canonical';
import { RAW_EVENTS_PREFIX, storeRawEvents } from '../../shared/capture/raw-events';
import { validateMessages } from '../../shared/capture/service';
import type { FeatureManifest, ItemFeatures, UserFeatures } from '../../shared/features/build';
import { type LocalStack, startLocalStack } from '../../shared/local';
import { suppressProfiles } from '../../shared/privacy/suppression';
import { primaryProfileId } from '../../shared/profiles/profile';
import { simulateShop } from '../../shared/simulator/shop';
import { BlobStore } from '../../shared/storage/blob';

const projectRoot = resolve(import.meta.dirname, '../..');

interface Rows {
  manifest: FeatureManifest;
  users: UserFeatures[];
  items: ItemFeatures[];
}

describe('distributed feature job (Distributed Map tasks) against the single-Lambda job', () => {
  let stack: LocalStack;
  let dataDir: string;
  let blobs: BlobStore;
  let events: CanonicalEvent[];

  const read = async (manifest: FeatureManifest): Promise<Rows> => ({
    manifest,
    users: await blobs.getNdjson<UserFeatures>(manifest.usersKey),
    items: await blobs.getNdjson<ItemFeatures>(manifest.itemsKey),
  });

  /** What the features state machine does, with the ItemReader listing and ItemBatcher batches played here. */
  const runDistributed = async (jobId: string, request: { asOf?: string }, options: { batchSize: number; dropBatch?: number }) => {
    const keys = await blobs.listKeys(RAW_EVENTS_PREFIX);
    const batches: string[][] = [];
    for (let i = 0; i < keys.length; i += options.batchSize) batches.push(keys.slice(i, i + options.batchSize));
    const results = [];
    for (const [index, batch] of batches.entries()) {
      if (index === options.dropBatch) continue;
      results.push(
        (await stack.invoke('featurePartition', { Items: batch.map((Key) => ({ Key, Size: 1, Etag: 'x' })), BatchInput: { jobId, request } })) as {
          built: { day: string }[];
          skipped: string[];
        },
      );
    }
    const manifest = (await stack.invoke('featureReduce', { jobId, request })) as FeatureManifest;
    return { manifest, results };
  };

  const expectSameRows = (distributed: Rows, single: Rows) => {
    expect(distributed.manifest.counts).toEqual(single.manifest.counts);
    expect(distributed.manifest.asOf).toBe(single.manifest.asOf);
    const strip = <T extends { revenue: number }>(rows: T[]) => rows.map(({ revenue: _r, ...rest }) => rest);
    expect(strip(distributed.users)).toEqual(strip(single.users));
    expect(strip(distributed.items)).toEqual(strip(single.items));
    // Sums of money in another order: equal to the cent.
    for (const [i, u] of distributed.users.entries()) expect(Math.abs(u.revenue - (single.users[i]?.revenue ?? Number.NaN))).toBeLessThanOrEqual(0.011);
    for (const [i, f] of distributed.items.entries()) expect(Math.abs(f.revenue - (single.items[i]?.revenue ?? Number.NaN))).toBeLessThanOrEqual(0.011);
  };

  beforeAll(async () => {
    process.env.LOG_LEVEL = 'ERROR';
    process.env.METRICS_DISABLED = 'true';
    dataDir = mkdtempSync(join(tmpdir(), 'retrain-features-'));
    stack = await startLocalStack({ projectRoot, dataDir, stage: 'featuretest', quiet: true });
    resetClients();
    blobs = new BlobStore(s3Client(), stack.config.provider.environment.DATA_BUCKET as string);
    const shop = simulateShop({ seed: 5, shoppers: 80, items: 60, days: 21 });
    const { valid } = validateMessages(shop.events, new Date(shop.period.end));
    events = valid.map(
      (e) => ({ ...e, profileId: primaryProfileId(e.userId ? { userId: e.userId } : { anonymousId: e.anonymousId as string }) }) as CanonicalEvent,
    );
    // Several objects per day partition (batches of 150), as capture writes them.
    for (let i = 0; i < events.length; i += 150) await storeRawEvents(blobs, events.slice(i, i + 150));
    // A client retry that regrouped a batch: the same events again, in other objects of the same days.
    await storeRawEvents(
      blobs,
      events.filter((_, i) => i % 7 === 0),
    );
    // An erased shopper: never in a feature file.
    await suppressProfiles(blobs, [events[0]?.profileId as string], events[0]?.profileId as string);
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('gives the same users and items as buildFeatures, duplicates removed and erased shoppers left out', async () => {
    // Prepare
    const single = await read(((await stack.invoke('buildFeatures', { source: 'schedule' })) as { features: FeatureManifest }).features);

    // Act
    const { manifest, results } = await runDistributed('job-all', {}, { batchSize: 7 });

    // Assess
    const distributed = await read(manifest);
    expectSameRows(distributed, single);
    const days = new Set(events.map((e) => e.timestamp.slice(0, 10)));
    expect(results.flatMap((r) => r.built.map((b) => b.day)).sort()).toEqual([...days].sort()); // each day built once, by one batch
    expect(distributed.users.some((u) => u.profileId === events[0]?.profileId)).toBe(false);
    expect(distributed.manifest.counts.events).toBeLessThan(events.length);
  });

  it('honours asOf, and the reduce builds the days of a batch that never ran', async () => {
    // Prepare
    const asOf = new Date(Date.parse(events[Math.floor(events.length * 0.6)]?.timestamp as string)).toISOString();
    const single = await read(((await stack.invoke('buildFeatures', { source: 'schedule', asOf })) as { features: FeatureManifest }).features);

    // Act
    const { manifest } = await runDistributed('job-asof', { asOf }, { batchSize: 5, dropBatch: 1 });

    // Assess
    expect(manifest.asOf).toBe(asOf);
    expectSameRows(await read(manifest), single);
  });

  it('refuses a batch without a usable job id or asOf, naming the field', async () => {
    // Act
    const noJob = stack.invoke('featurePartition', { Items: [], BatchInput: { request: {} } });
    const badAsOf = stack.invoke('featureReduce', { jobId: 'j1', request: { asOf: 'yesterday' } });

    // Assess
    await expect(noJob).rejects.toThrow(/jobId/);
    await expect(badAsOf).rejects.toThrow(/request\.asOf: must be an ISO 8601 date-time/);
  });
});
