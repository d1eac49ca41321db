import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalStack, startLocalStack } from '../../shared/local';
import { type DemoSummary, runDemo } from '../../shared/demo/run';

const projectRoot = resolve(import.meta.dirname, '../..');

describe('the vertical slice on the embedded local stack', () => {
  let stack: LocalStack;
  let dataDir: string;
  let summary: DemoSummary;

  beforeAll(async () => {
    process.env.LOG_LEVEL = 'ERROR';
    process.env.METRICS_DISABLED = 'true';
    dataDir = mkdtempSync(join(tmpdir(), 'e2e-'));
    stack = await startLocalStack({ projectRoot, dataDir, port: 0, stage: 'e2e', quiet: true });
    // Two batches of 200 in flight: the local stack runs every Lambda invocation in this one process
    // (beside the other test files' workers), where AWS gives each its own container; 500-event
    // batches sharing a loaded core can exceed captureBatch's 29 s timeout, which would test the
    // machine, not the slice. Large-batch latency is issue 13's (exactly once, batch limits).
    summary = await runDemo(stack, { seed: 7, shoppers: 160, items: 120, days: 35, concurrency: 2, batchSize: 200 });
  }, 300_000);

  afterAll(async () => {
    await stack?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('accepts every simulated event, over HTTP and through the S3 bulk import', () => {
    // Assess
    expect(summary.events.viaHttp).toBeGreaterThan(1000);
    expect(summary.events.viaImport).toBeGreaterThan(0);
    expect(summary.events.accepted).toBe(summary.events.generated);
    expect(summary.events.rejected).toBe(0);
    expect(summary.profiles).toBeGreaterThan(100);
    expect(summary.features?.items).toBeGreaterThan(50);
  });

  it('trains, evaluates and promotes a model that beats popularity on the time-based holdout', () => {
    // Assess
    expect(summary.run.status).toBe('SUCCEEDED');
    expect(summary.run.outcome).toBe('promoted');
    expect(summary.run.metrics?.['HR@10']).toBeGreaterThan(summary.run.baseline?.['HR@10'] ?? 1);
    expect(summary.run.metrics?.['NDCG@10']).toBeGreaterThan(summary.run.baseline?.['NDCG@10'] ?? 1);
    expect(summary.ok).toBe(true);
  });

  it('serves personalised recommendations without items the shopper bought, and popular items to strangers', async () => {
    // Prepare
    const known = summary.recommendations.find((r) => r.strategy === 'personalized');
    expect(known).toBeDefined();
    const profile = await fetch(`${stack.url}/v1/users/${known?.userId}/recommendations?k=20`);
    const body = (await profile.json()) as { items: { itemId: string; score: number }[]; modelVersion: string; strategy: string };

    // Assess
    expect(profile.status).toBe(200);
    expect(body.items).toHaveLength(20);
    expect(body.modelVersion).toBe(summary.run.modelVersion);
    const scores = body.items.map((i) => i.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    const stranger = summary.recommendations.find((r) => r.userId === 'someone-new');
    expect(stranger?.strategy).toBe('popular');
    expect(stranger?.items.length).toBe(5);
  });

  it('counts a re-sent batch once (idempotent capture)', async () => {
    // Prepare
    const message = {
      type: 'track',
      event: 'Product Viewed',
      messageId: 'e2e-retry-1',
      userId: 'retry-shopper',
      properties: { product_id: 'SKU-0001', price: 9.5 },
      context: { channel: 'app' },
      timestamp: '2026-10-01T10:00:00Z',
    };
    const send = () => fetch(`${stack.url}/v1/batch`, { method: 'POST', body: JSON.stringify({ batch: [message] }) }).then((r) => r.json());

    // Act
    const first = (await send()) as { accepted: number; duplicates: number };
    const second = (await send()) as { accepted: number; duplicates: number };

    // Assess
    expect(first).toMatchObject({ accepted: 1, duplicates: 0 });
    expect(second).toMatchObject({ accepted: 1, duplicates: 1 });
  });

  it('answers bad requests with the field and the reason, unknown routes with 404', async () => {
    // Act
    const malformed = await fetch(`${stack.url}/v1/batch`, { method: 'POST', body: '{"batch": [' });
    const badK = await fetch(`${stack.url}/v1/users/U-0001/recommendations?k=0`);
    const missing = await fetch(`${stack.url}/v1/nothing-here`);

    // Assess
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { issues: { field: string }[] }).issues[0]?.field).toBe('body');
    expect(badK.status).toBe(400);
    expect(JSON.stringify(await badK.json())).toContain('"field":"k"');
    expect(missing.status).toBe(404);
  });
});
