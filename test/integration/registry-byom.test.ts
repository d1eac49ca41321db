/**
 * Bring your own ONNX through the embedded local stack: models and manifests uploaded to S3 (s3rver)
 * trigger the validateModelUpload function by the same prefix/suffix rule as serverless.yml; then the
 * registry CLI promotes and rolls back, the retention job runs, and `models list --json` reads the data
 * dir after the stack stopped.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildItemItemOnnx, buildPopularityOnnx } from '../../models/recommender/export';
import { type ItemIndex, trainRecommender } from '../../models/recommender/train';
import { type FamilyListing, main as modelsCli } from '../../shared/cli/models';
import { type LocalStack, startLocalStack } from '../../shared/local';
import { ModelRegistry, type RetentionReport } from '../../shared/registry/registry';
import type { UploadReport } from '../../shared/training/upload';
import { BlobStore } from '../../shared/storage/blob';
import type { Interaction, SnapshotManifest } from '../../shared/snapshots/snapshot';
import { mulberry32 } from '../../shared/random';

const projectRoot = resolve(import.meta.dirname, '../..');
const STAGE = 'regtest';
const DAY = 86_400_000;
const START = Date.parse('2026-09-01T00:00:00Z');
const HOLDOUT_START = START + 28 * DAY;

/** 6 taste clusters of 8 items and 3 items everyone views; the holdout item is a new one of the shopper's cluster. */
function clusteredInteractions(): Interaction[] {
  const r = mulberry32(11);
  const out: Interaction[] = [];
  for (let u = 0; u < 240; u++) {
    const pool = Array.from({ length: 8 }, (_, k) => `SKU-${u % 6}-${k}`).sort(() => r() - 0.5);
    const p = `shopper-${u}`;
    for (const [k, i] of pool.slice(0, 4).entries()) out.push({ p, i, t: k === 3 ? 'purchase' : 'view', ts: START + Math.floor(r() * 27 * DAY), c: 'web' });
    out.push({ p, i: `HOT-${u % 3}`, t: 'view', ts: START + Math.floor(r() * 27 * DAY), c: 'app' });
    out.push({ p, i: pool[4] as string, t: 'add_to_cart', ts: HOLDOUT_START + DAY + Math.floor(r() * DAY), c: 'web' });
  }
  return out.sort((x, y) => x.ts - y.ts);
}

describe('bring your own ONNX on the local stack', () => {
  let stack: LocalStack;
  let dataDir: string;
  let bucket: string;
  let blobs: BlobStore;
  let registry: ModelRegistry;
  let ease: { onnx: Uint8Array; items: ItemIndex };
  const versions = { a: '', b: '', early: '' };

  const put = (key: string, body: Uint8Array | string) => stack.emulators.s3Client().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  const upload = async (name: string, model: Uint8Array | undefined, manifest: Record<string, unknown>) => {
    if (model) await put(`uploads/models/recommender/${name}.onnx`, model);
    await put(`uploads/models/recommender/${name}.json`, JSON.stringify({ family: 'recommender', name, description: `${name} (test)`, ...manifest }));
    await stack.s3Events.waitForIdle();
    const report = await blobs.getJson<UploadReport>(`uploads/reports/${name}.json`);
    if (!report) throw new Error(`no report for ${name}`);
    return report;
  };
  const cli = async (...args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await modelsCli(args, { out: (t) => out.push(t), err: (t) => err.push(t) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  beforeAll(async () => {
    process.env.LOG_LEVEL = 'ERROR';
    process.env.METRICS_DISABLED = 'true';
    dataDir = mkdtempSync(join(tmpdir(), 'registry-byom-'));
    stack = await startLocalStack({ projectRoot, dataDir, port: 0, stage: STAGE, quiet: true });
    bucket = stack.config.provider.environment.DATA_BUCKET as string;
    blobs = new BlobStore(stack.emulators.s3Client(), bucket);
    registry = new ModelRegistry(blobs, { s3: stack.emulators.s3Client(), conditionalWrites: 'emulated' });

    // The latest training snapshot (what PrepareSnapshot writes): the holdout uploads are judged on.
    const interactions = clusteredInteractions();
    const manifest: SnapshotManifest = {
      runId: 'byom-snapshot',
      asOf: new Date(HOLDOUT_START + 7 * DAY).toISOString(),
      holdoutStart: new Date(HOLDOUT_START).toISOString(),
      interactionsKey: 'snapshots/byom-snapshot/interactions.ndjson.gz',
      itemsKey: 'snapshots/byom-snapshot/items.json',
      counts: { events: interactions.length, interactions: interactions.length, users: 240, items: 51, holdoutUsers: 240 },
    };
    await blobs.putNdjsonGz(manifest.interactionsKey, interactions);
    await blobs.putJson(manifest.itemsKey, Object.fromEntries([...new Set(interactions.map((x) => x.i))].map((i) => [i, { category: i.split('-')[1] }])));
    await blobs.putJson('snapshots/byom-snapshot/manifest.json', manifest);
    // A model trained elsewhere on the data before the holdout start, exported to the recommender contract.
    const trained = await trainRecommender(interactions.filter((x) => x.ts < HOLDOUT_START));
    ease = { onnx: trained.onnx, items: trained.items };
  }, 60_000);

  afterAll(async () => {
    await stack?.stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('rejects a manifest uploaded before its model, naming the order to follow', async () => {
    // Act
    const report = await upload('early', undefined, { itemIndex: ease.items.itemIds });

    // Assess
    expect(report.status).toBe('rejected');
    expect(report.reasons).toEqual([
      'model: uploads/models/recommender/early.onnx not found; upload the .onnx file BEFORE its manifest, then re-upload the manifest',
    ]);
    expect(stack.s3Events.invocations.filter((i) => i.functionName === 'validateModelUpload' && i.ok)).toHaveLength(1);
  });

  it('registers a valid uploaded model as challenger; uploading the .onnx alone triggers nothing', async () => {
    // Prepare
    const before = stack.s3Events.invocations.length;
    await put('uploads/models/recommender/early.onnx', ease.onnx);
    await stack.s3Events.waitForIdle();
    const afterModelOnly = stack.s3Events.invocations.length;

    // Act
    const a = await upload('ease-a', ease.onnx, { itemIndex: ease.items.itemIds, trainingSeconds: 1.2, algorithm: 'EASE (trained elsewhere)' });
    const early = await upload('early', undefined, { itemIndex: ease.items.itemIds });

    // Assess
    expect(afterModelOnly).toBe(before);
    expect(a).toMatchObject({ status: 'accepted', alias: 'challenger', evaluation: { snapshot: 'byom-snapshot', cases: 240 } });
    expect(early.status).toBe('accepted');
    versions.a = a.version as string;
    versions.early = early.version as string;
    expect(versions.a).not.toBe(versions.early);
    expect((await registry.getAlias('recommender', 'challenger'))?.version).toBe(versions.early);
    expect(await registry.getCard('recommender', versions.a)).toMatchObject({
      algorithm: 'EASE (trained elsewhere)',
      trainingSeconds: 1.2,
      source: { kind: 'uploaded', name: 'ease-a' },
    });
    expect(stack.s3Events.errors).toEqual([]);
  });

  it('rejects a model with NaN outputs and leaves the challenger where it was', async () => {
    // Prepare
    const n = ease.items.itemIds.length;
    const nan = buildItemItemOnnx(new Float32Array(n * n).fill(Number.NaN), n);

    // Act
    const report = await upload('nan', nan, { itemIndex: ease.items.itemIds });

    // Assess
    expect(report.status).toBe('rejected');
    expect(report.reasons.every((r) => /^contract: golden input '.+': \d+ of \d+ scores are not finite$/.test(r))).toBe(true);
    expect((await registry.getAlias('recommender', 'challenger'))?.version).toBe(versions.early);
  });

  it('promotes by CLI, then rejects an upload worse than the champion with every gate reason', async () => {
    // Prepare
    const b = await upload('ease-b', ease.onnx, { itemIndex: ease.items.itemIds });
    versions.b = b.version as string;
    const promoted = await cli('promote', 'recommender', versions.a, '--endpoint', stack.emulators.s3Endpoint, '--stage', STAGE, '--json');

    // Act
    const worse = await upload('flat', buildPopularityOnnx(new Float32Array(ease.items.itemIds.length).fill(1)), { itemIndex: 'champion' });

    // Assess
    expect(promoted.code).toBe(0);
    expect(JSON.parse(promoted.out)).toMatchObject({ pointer: { version: versions.a, reason: 'manual promote by CLI' } });
    expect(worse.status).toBe('rejected');
    expect(worse.evaluation?.champion?.version).toBe(versions.a);
    expect(worse.reasons).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^gate: NDCG@10 [\d.]+ improves on the champion's [\d.]+ by -[\d.]+, at least 0\.0010 needed$/),
        expect.stringMatching(/^gate: HR@10 [\d.]+ is worse than the champion's/),
        expect.stringMatching(/^gate: NDCG@10 [\d.]+ does not beat the popularity baseline/),
      ]),
    );
    expect((await registry.getAlias('recommender', 'challenger'))?.version).toBe(versions.b);
  });

  it('rolls the champion back by CLI and refuses a promote to a version that does not exist', async () => {
    // Prepare
    await cli('promote', 'recommender', versions.b, '--endpoint', stack.emulators.s3Endpoint, '--stage', STAGE);

    // Act
    const rollback = await cli('rollback', 'recommender', '--endpoint', stack.emulators.s3Endpoint, '--stage', STAGE);
    const missing = await cli('promote', 'recommender', '20990101T000000Z-nothing', '--endpoint', stack.emulators.s3Endpoint, '--stage', STAGE);

    // Assess
    expect(rollback).toMatchObject({ code: 0, out: `recommender champion → ${versions.a} (rolled back from ${versions.b})` });
    expect(await registry.getAlias('recommender', 'champion')).toMatchObject({ version: versions.a, previous: versions.b });
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/UnknownVersionError: .*no such version recommender\/20990101T000000Z-nothing/);
  });

  it('runs the retention job on its schedule and with a strict rule, keeping every protected version', async () => {
    // Act
    const scheduled = (await stack.runSchedule('modelRetention')) as { reports: RetentionReport[] };
    const invalid = await stack.invoke('modelRetention', { keepLast: -1 }).catch((e: Error) => e);
    const strict = (await stack.invoke('modelRetention', { families: ['recommender'], keepLast: 0, keepDays: 0 })) as { reports: RetentionReport[] };

    // Assess
    expect(scheduled.reports).toEqual([expect.objectContaining({ family: 'recommender', deleted: [] })]);
    expect((invalid as Error).message).toBe('Invalid retention request: keepLast: must be ≥ 0');
    // early: challenger until ease-b replaced it (grace 0) and never champion: the only one to go.
    expect(strict.reports[0]?.deleted).toEqual([versions.early]);
    expect(strict.reports[0]?.kept.map((k) => k.version).sort()).toEqual([versions.a, versions.b].sort());
    expect(await blobs.listKeys(`models/recommender/versions/${versions.early}/`)).toEqual([]);
  });

  it('`models list --json` reads the data dir after the stack stopped', async () => {
    // Prepare
    await stack.stop();

    // Act
    const listed = await cli('list', '--json', '--data-dir', dataDir, '--stage', STAGE);
    const shown = await cli('show', 'recommender', '--data-dir', dataDir, '--stage', STAGE);

    // Assess
    expect(listed.code).toBe(0);
    const { families } = JSON.parse(listed.out) as { families: FamilyListing[] };
    const rec = families.find((f) => f.family === 'recommender');
    expect(rec?.versions.map((v) => v.version)).toEqual([versions.a, versions.b].sort());
    for (const v of rec?.versions ?? []) {
      expect(v).toMatchObject({ source: expect.stringMatching(/^uploaded:ease-[ab]$/), gate: { passed: true } });
      expect(v.metrics['NDCG@10']).toBeGreaterThan(0);
      expect(v.metrics['HR@10']).toBeGreaterThan(0);
      expect(Date.parse(v.createdAt as string)).not.toBeNaN();
    }
    expect(rec?.aliases.champion?.current).toMatchObject({ version: versions.a, previous: versions.b });
    expect(rec?.aliases.champion?.history.map((h) => h.version)).toEqual([versions.a, versions.b, versions.a]);
    expect(rec?.aliases.challenger?.history.map((h) => h.version)).toEqual([versions.a, versions.early, versions.b]);
    expect(shown.code).toBe(0);
    expect(shown.out).toContain(`recommender/${versions.a}  [champion]`);
  });
});
