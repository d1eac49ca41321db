/**
 * The `demand` family (models/demand) through the REAL retraining state machine of serverless.yml on
 * the local stack, next to the recommender — registered here with `registerFamily` until its line in
 * models/families.ts lands (the default `npm start -- --once` shop would then train it too): planned from the snapshot's item daily table, trained
 * (rolling-origin choice, ONNX artifacts, forecast.json), evaluated through onnxruntime on the holdout
 * days and gated on WAPE against the best simple baseline. The simulator knows every item's true
 * daily units: the candidate's holdout forecast is compared with them (WAPE printed).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demandFamily } from '../../models/demand/family';
import { buildRows, N_FEATURES } from '../../models/demand/features';
import { calendarOf } from '../../models/demand/select';
import { type DemandArtifactInfo, holdoutWindow, seriesFromItemDaily, trainer } from '../../models/demand/trainer';
import { hasFamily, registerFamily } from '../../models/families';
import type { ModelFamily } from '../../shared/families/contract';
import { resetClients, s3Client } from '../../shared/aws/clients';
import { storeRawEvents } from '../../shared/capture/raw-events';
import { validateMessages } from '../../shared/capture/service';
import type { CanonicalEvent } from '../../shared/events/canonical';
import { type LocalStack, startLocalStack } from '../../shared/local';
import { primaryProfileId } from '../../shared/profiles/profile';
import { type ModelCard, ModelRegistry } from '../../shared/registry/registry';
import type { RunReport } from '../../shared/reports/run-report';
import { type SimulatedShop, simulateShop } from '../../shared/simulator/shop';
import { loadItemDaily, type SnapshotManifest } from '../../shared/snapshots/snapshot';
import { BlobStore } from '../../shared/storage/blob';

const projectRoot = resolve(import.meta.dirname, '../..');

describe('demand family (real state machine, local stack)', () => {
  let stack: LocalStack;
  let dataDir: string;
  let blobs: BlobStore;
  let registry: ModelRegistry;
  let shop: SimulatedShop;
  let unregister: (() => void) | undefined;

  beforeAll(async () => {
    process.env.LOG_LEVEL = 'ERROR';
    process.env.METRICS_DISABLED = 'true';
    if (!hasFamily('demand')) unregister = registerFamily(demandFamily as unknown as ModelFamily, trainer);
    dataDir = mkdtempSync(join(tmpdir(), 'demand-family-'));
    stack = await startLocalStack({ projectRoot, dataDir, stage: 'demandtest', quiet: true });
    resetClients();
    blobs = new BlobStore(s3Client(), stack.config.provider.environment.DATA_BUCKET as string);
    registry = new ModelRegistry(blobs);
    shop = simulateShop({ seed: 8, shoppers: 400, items: 20, days: 56, start: '2026-01-05T00:00:00.000Z', holiday: '2026-01-17' });
    const { valid } = validateMessages(shop.events, new Date(shop.period.end));
    await storeRawEvents(
      blobs,
      valid.map((e) => ({ ...e, profileId: primaryProfileId(e.userId ? { userId: e.userId } : { anonymousId: e.anonymousId as string }) }) as CanonicalEvent),
    );
  }, 60_000);

  afterAll(async () => {
    unregister?.();
    await stack?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('trains, evaluates and gates the demand family next to the recommender; its holdout forecast is compared with the simulator’s true units', async () => {
    // Act
    const run = await stack.runStateMachine(
      'retrain',
      { trigger: 'test', hyperparameters: { recommender: { sequenceTrainingSeconds: 0 }, demand: { epochs: 3 } } },
      { executionName: 'demand-1' },
    );

    // Assess: both families planned and judged, each by its own policy.
    const report = run.output as RunReport;
    expect(run.status).toBe('SUCCEEDED');
    expect(report.plan?.map((p) => [p.family, p.enough])).toEqual([
      ['recommender', true],
      ['demand', true],
    ]);
    const demand = report.families.find((f) => f.family === 'demand');
    expect(demand?.policy).toMatchObject({ mainMetric: 'WAPE', direction: 'lower', baselineName: 'best simple' });
    expect(demand?.metrics.count).toBeGreaterThanOrEqual(50);
    expect(demand?.gate?.reasons.join(' ')).toMatch(/WAPE .* the best simple baseline/);
    const card = (await registry.getCard('demand', demand?.candidate.version as string)) as ModelCard;
    expect(card.gate).toEqual(demand?.gate);
    const champion = (await registry.getAlias('demand', 'champion'))?.version;
    expect(champion).toBe(demand?.gate?.passed ? demand.candidate.version : undefined);

    // The candidate's holdout forecast (eval/model.onnx, as served) against the simulator's true daily units.
    const manifest = (await blobs.getJson<SnapshotManifest>(`snapshots/${report.runId}/manifest.json`)) as SnapshotManifest;
    const daily = await loadItemDaily(blobs, manifest);
    const set = seriesFromItemDaily(daily);
    const window = holdoutWindow(manifest, daily.days);
    const info = (await registry.getJson<DemandArtifactInfo>('demand', demand?.candidate.version as string, 'eval/features.json')) as DemandArtifactInfo;
    const rows = buildRows(set, calendarOf(info), {
      origins: [window.cutoff],
      horizon: window.days,
      minHistoryDays: info.minHistoryDays,
      targetsBefore: window.end,
    });
    const session = await ort.InferenceSession.create(
      (await registry.getModelBytes('demand', demand?.candidate.version as string, 'eval/model.onnx')) as Uint8Array,
    );
    const out = await session.run({
      features: new ort.Tensor('float32', rows.x, [rows.n, N_FEATURES]),
      scale: new ort.Tensor('float32', rows.scale, [rows.n, 1]),
    });
    await session.release();
    const q = out.quantiles?.data as Float32Array;
    const shopStart = Date.parse(shop.period.start);
    let absError = 0;
    let truthUnits = 0;
    let covered = 0;
    for (let r = 0; r < rows.n; r++) {
      const series = set.series[rows.series[r] as number];
      const dayIndex = Math.round((Date.parse(`${daily.days[(rows.origin[r] as number) + (rows.step[r] as number) - 1]}T00:00:00Z`) - shopStart) / 86_400_000);
      const truth = shop.truth.dailyUnits[series?.item as string]?.[dayIndex] ?? 0;
      expect(truth).toBe(rows.y[r]); // the snapshot's item daily table holds exactly what the simulator sold
      absError += Math.abs((q[r * 3 + 1] as number) - truth);
      truthUnits += truth;
      if (truth >= (q[r * 3] as number) - 1e-6 && truth <= (q[r * 3 + 2] as number) + 1e-6) covered++;
    }
    const wape = absError / truthUnits;
    console.info(
      `demand on the simulated shop: ${rows.n} holdout item-days, chosen ${card.algorithm}; WAPE vs true units ${wape.toFixed(4)} (gate: ${demand?.metrics.WAPE?.toFixed(4)}, best simple baseline ${demand?.baseline.WAPE?.toFixed(4)}), coverage80 ${(covered / rows.n).toFixed(3)}; gate ${demand?.gate?.passed ? 'passed' : 'failed'}: ${demand?.gate?.reasons.join('; ')}`,
    );
    expect(wape).toBeCloseTo(demand?.metrics.WAPE as number, 4);
  }, 300_000);
});
