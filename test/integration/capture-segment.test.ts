/**
 * Capture on the embedded local stack (dynalite + s3rver + the HTTP API of serverless.yml), driven by
 * Segment's own Node library: events, the stitched profile and its counters; a wrong write key; and
 * concurrent duplicates of one messageId stored once and counted once.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Analytics } from '@segment/analytics-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CanonicalEvent } from '../../shared/events/canonical';
import { RAW_EVENTS_PREFIX, readRawEvents } from '../../shared/capture/raw-events';
import { type LocalStack, startLocalStack } from '../../shared/local';
import { ProfileRepository } from '../../shared/profiles/repository';
import { BlobStore } from '../../shared/storage/blob';

const projectRoot = resolve(import.meta.dirname, '../..');
const WRITE_KEY = 'wk_segment_integration';
const AUTH = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;

let stack: LocalStack;
let dataDir: string;
let blobs: BlobStore;
let profiles: ProfileRepository;
const saved = { WRITE_KEYS: process.env.WRITE_KEYS };

/** Every message the library sent, by messageId (read from its own `http_request` events). */
const sent = new Map<string, { type: string; event?: string }>();

function client(writeKey: string): Analytics {
  const analytics = new Analytics({ writeKey, host: stack.url, path: '/v1/batch', flushAt: 3, flushInterval: 100, maxRetries: 1 });
  analytics.on('http_request', (request) => {
    for (const message of (JSON.parse(request.body) as { batch: { messageId: string; type: string; event?: string }[] }).batch)
      sent.set(message.messageId, message);
  });
  return analytics;
}

/** Resolves when the library reports the message delivered (or rejects with its delivery error). */
function deliver(call: (callback: (error?: unknown) => void) => void): Promise<void> {
  return new Promise((done, fail) => call((error) => (error ? fail(error) : done())));
}

async function rawEventsById(): Promise<Map<string, CanonicalEvent>> {
  return new Map((await readRawEvents(blobs)).map((e) => [e.eventId, e]));
}

async function post(path: string, body: unknown) {
  const response = await fetch(`${stack.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: AUTH },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    body: (await response.json()) as { status?: string; results?: { status: string }[]; accepted?: number; duplicates?: number },
  };
}

beforeAll(async () => {
  process.env.LOG_LEVEL = 'ERROR';
  process.env.METRICS_DISABLED = 'true';
  // Deployed stacks hold only digests of the keys.
  process.env.WRITE_KEYS = `sha256:${createHash('sha256').update(WRITE_KEY).digest('hex')}`;
  dataDir = mkdtempSync(join(tmpdir(), 'capture-segment-'));
  stack = await startLocalStack({ projectRoot, dataDir, stage: 'capseg', quiet: true });
  const env = stack.config.provider.environment;
  blobs = new BlobStore(stack.emulators.s3Client(), env.DATA_BUCKET as string);
  profiles = new ProfileRepository(DynamoDBDocumentClient.from(stack.emulators.dynamodbClient()), env.PROFILES_TABLE as string);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  if (saved.WRITE_KEYS === undefined) delete process.env.WRITE_KEYS;
  else process.env.WRITE_KEYS = saved.WRITE_KEYS;
});

describe('capture with the Segment Node library (@segment/analytics-node)', () => {
  it('stores every event, stitches the anonymous browsing to the user who logged in, and counts each once', async () => {
    // Prepare
    const analytics = client(WRITE_KEY);
    const errors: unknown[] = [];
    analytics.on('error', (error) => errors.push(error));
    const anonymousId = 'anon-segment-1';
    const userId = 'shopper-segment-1';
    const web = { channel: 'web' };

    // Act: the login first (identify with both ids), then anonymous browsing, then a purchase in a store.
    await deliver((cb) => analytics.identify({ userId, anonymousId, traits: { email: 'shopper@example.com' }, context: web }, cb));
    await Promise.all([
      deliver((cb) => analytics.track({ anonymousId, event: 'Product Viewed', properties: { product_id: 'SKU-1', price: 20 }, context: web }, cb)),
      deliver((cb) => analytics.track({ anonymousId, event: 'Product Viewed', properties: { product_id: 'SKU-2', price: 35 }, context: web }, cb)),
      deliver((cb) => analytics.track({ anonymousId, event: 'Product Added', properties: { product_id: 'SKU-1', quantity: 1 }, context: web }, cb)),
      deliver((cb) => analytics.track({ anonymousId, event: 'Products Searched', properties: { query: 'shoes' }, context: web }, cb)),
      deliver((cb) => analytics.page({ anonymousId, name: 'Home', context: web }, cb)),
    ]);
    await deliver((cb) =>
      analytics.track(
        {
          userId,
          event: 'Order Completed',
          properties: { order_id: 'O-1', revenue: 20, products: [{ product_id: 'SKU-1', price: 20, quantity: 1 }] },
          context: { channel: 'pos', store: { id: 'STORE-7' }, device: { id: 'TILL-3' } },
        },
        cb,
      ),
    );
    await analytics.closeAndFlush();

    // Assess: every message the library sent is stored, once.
    expect(errors).toEqual([]);
    expect(sent.size).toBe(7);
    const stored = await rawEventsById();
    const mine = [...sent.keys()].map((id) => stored.get(id));
    expect(mine.every((e) => e !== undefined)).toBe(true);
    const events = mine as CanonicalEvent[];
    expect(events.map((e) => e.type).sort()).toEqual(['add_to_cart', 'identify', 'page_view', 'purchase', 'search', 'view', 'view']);
    // One shopper: the anonymous events and the store purchase reach the same profile.
    expect(new Set(events.map((e) => e.profileId)).size).toBe(1);
    const purchase = events.find((e) => e.type === 'purchase');
    expect(purchase).toMatchObject({ channel: 'pos', storeId: 'STORE-7', deviceId: 'TILL-3', orderId: 'O-1', revenue: 20 });
    // Raw storage never holds the email the identify call carried.
    expect(JSON.stringify(events)).not.toContain('shopper@example.com');

    const profile = await profiles.get(events[0]?.profileId as string);
    expect(profile?.counts).toMatchObject({ view: 2, add_to_cart: 1, purchase: 1, search: 1, page_view: 1, identify: 1 });
    expect(profile?.channels.web?.events).toBe(6);
    expect(profile?.channels.pos?.events).toBe(1);
    expect(profile?.purchased).toEqual(['SKU-1']);
    expect(profile?.totalRevenue).toBe(20);
  });

  it('refuses a wrong write key with 401, which the library reports as a failed delivery, and stores nothing', async () => {
    // Prepare
    const analytics = client('wk_wrong');
    const before = (await blobs.listKeys(RAW_EVENTS_PREFIX)).length;

    // Act
    const failure = await deliver((cb) => analytics.track({ userId: 'intruder', event: 'Product Viewed', properties: { product_id: 'SKU-1' } }, cb)).catch(
      (e: unknown) => e,
    );
    await analytics.closeAndFlush();

    // Assess
    expect(String((failure as { reason?: unknown })?.reason ?? failure)).toContain('401');
    expect((await blobs.listKeys(RAW_EVENTS_PREFIX)).length).toBe(before);
    expect(await blobs.listKeys('quarantine/')).toEqual([]);
  });
});

describe('idempotent capture under concurrency', () => {
  const view = (messageId: string, userId: string) => ({
    type: 'track',
    event: 'Product Viewed',
    messageId,
    userId,
    properties: { product_id: 'SKU-9' },
    timestamp: '2026-10-01T10:00:00.000Z',
  });

  it('counts one messageId once when the same batch arrives twice at the same moment', async () => {
    // Prepare
    const body = { batch: [view('dup-batch-1', 'shopper-dup-1')] };

    // Act
    const [a, b] = await Promise.all([post('/v1/batch', body), post('/v1/batch', body)]);

    // Assess
    expect([a.status, b.status]).toEqual([200, 200]);
    expect([a.body.results?.[0]?.status, b.body.results?.[0]?.status].sort()).toEqual(['accepted', 'duplicate']);
    const stored = (await rawEventsById()).get('dup-batch-1');
    const profile = await profiles.get(stored?.profileId as string);
    expect(profile?.counts.view).toBe(1);
    // Both requests wrote the same raw object key: the event is stored once.
    const objects = await Promise.all((await blobs.listKeys(RAW_EVENTS_PREFIX)).map((key) => blobs.getNdjson<CanonicalEvent>(key)));
    expect(objects.flat().filter((e) => e.eventId === 'dup-batch-1')).toHaveLength(1);
  });

  it('counts one messageId once across ten simultaneous requests on different routes and batches', async () => {
    // Prepare
    const message = view('dup-many-1', 'shopper-dup-2');
    const requests = Array.from({ length: 10 }, (_, i) =>
      i % 2 === 0 ? post('/v1/track', { ...message, type: undefined }) : post('/v1/batch', { batch: [message, view(`other-${i}`, 'shopper-dup-2')] }),
    );

    // Act
    const answers = await Promise.all(requests);

    // Assess
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const statuses = answers.map((a) => a.body.status ?? a.body.results?.[0]?.status);
    expect(statuses.filter((s) => s === 'accepted')).toHaveLength(1);
    expect(statuses.filter((s) => s === 'duplicate')).toHaveLength(9);
    const stored = await rawEventsById();
    const profile = await profiles.get(stored.get('dup-many-1')?.profileId as string);
    // dup-many-1 once, plus the five distinct other-<i> events.
    expect(profile?.counts.view).toBe(6);
  });
});
