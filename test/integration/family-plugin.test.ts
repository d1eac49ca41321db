/**
 * A model family is a plug-in: a throw-away family defined in the test folder
 * (test/fixtures/families/item-demand.ts, a lower-is-better regression with its own policy) is
 * registered at run time and trained, evaluated, gated and promoted by the REAL retraining state
 * machine of serverless.yml on the local stack, next to the recommender — and a family whose
 * training fails is reported on its own without blocking the others or touching its champion.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetClients, s3Client } from '../../shared/aws/clients';
import { storeRawEvents } from '../../shared/capture/raw-events';
import { registerFamily } from '../../models/families';
import { type LocalStack, startLocalStack } from '../../shared/local';
import { ModelRegistry } from '../../shared/registry/registry';
import type { RunReport } from '../../shared/reports/run-report';
import { BlobStore } from '../../shared/storage/blob';
import {
  brokenFamily,
  brokenTrainer,
  ITEM_DEMAND,
  itemDemandFamily,
  itemDemandTrainer,
  linearTrainer,
  misfitFamily,
  misfitTrainer,
} from '../fixtures/families/item-demand';
import { simulatedEvents } from '../helpers/snapshot-fixture';
import type { ModelFamily } from '../../shared/families/contract';

const projectRoot = resolve(import.meta.dirname, '../..');

describe('model families as plug-ins (real state machine, local stack)', () => {
  let stack: LocalStack;
  let dataDir: string;
  let blobs: BlobStore;
  let registry: ModelRegistry;
  const unregister: (() => void)[] = [];
  const champion = async (family: string) => (await registry.getAlias(family, 'champion'))?.version;

  beforeAll(async () => {
    process.env.LOG_LEVEL = 'ERROR';
    process.env.METRICS_DISABLED = 'true';
    dataDir = mkdtempSync(join(tmpdir(), 'family-plugin-'));
    stack = await startLocalStack({ projectRoot, dataDir, stage: 'plugintest', quiet: true });
    resetClients();
    blobs = new BlobStore(s3Client(), stack.config.provider.environment.DATA_BUCKET as string);
    registry = new ModelRegistry(blobs);
    await storeRawEvents(blobs, simulatedEvents({ seed: 5, shoppers: 80, items: 60, days: 35 }));
    unregister.push(registerFamily(itemDemandFamily, itemDemandTrainer));
  }, 60_000);

  afterAll(async () => {
    for (const undo of unregister) undo();
    await stack?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('trains, gates and promotes a family from the test folder next to the recommender, each by its own policy', async () => {
    // Act
    const run = await stack.runStateMachine(
      'retrain',
      { trigger: 'test', hyperparameters: { recommender: { sequenceTrainingSeconds: 0 } } },
      { executionName: 'plugin-1' },
    );

    // Assess
    const report = run.output as RunReport;
    expect(run.status).toBe('SUCCEEDED');
    expect(report.outcome).toBe('promoted');
    expect(report.families.map((f) => f.family).sort()).toEqual([ITEM_DEMAND, 'recommender']);
    const demand = report.families.find((f) => f.family === ITEM_DEMAND)!;
    expect(demand.policy).toMatchObject({ mainMetric: 'MAE', direction: 'lower', baselineName: 'persistence' });
    expect(demand.metrics.MAE).toBeLessThan(demand.baseline.MAE as number);
    expect(demand.gate?.reasons.join(' ')).toMatch(/MAE .* beats the persistence baseline/);
    expect(demand.promoted?.version).toBe(report.families.find((f) => f.family === 'recommender')?.promoted?.version);
    expect(await champion(ITEM_DEMAND)).toBe(demand.candidate.version);
    expect(await champion('recommender')).toBe(demand.candidate.version);
    const card = await registry.getCard(ITEM_DEMAND, demand.candidate.version);
    expect(card?.gate?.passed).toBe(true);
    expect(card?.metrics?.MAE).toBe(demand.metrics.MAE);
    const html = Buffer.from((await blobs.getBytes(report.htmlKey)) ?? []).toString('utf8');
    expect(html).toContain('Item demand (test) (item-demand)');
    expect(html).toContain('gain over persistence');
  }, 240_000);

  it('runs a failing family to its own FamilyFailed end: the others are judged, its champion untouched, the run reported and notified', async () => {
    // Prepare: the broken family gets a champion first (an item-demand model copied under its name).
    unregister.push(registerFamily(brokenFamily, brokenTrainer));
    const demandChampion = (await champion(ITEM_DEMAND)) as string;
    const bytes = await registry.getModelBytes(ITEM_DEMAND, demandChampion, 'model.onnx');
    const card = await registry.getCard(ITEM_DEMAND, demandChampion);
    await registry.putArtifact('broken', 'v-initial', 'model.onnx', bytes as Uint8Array);
    await registry.putCard({ ...card!, family: 'broken', version: 'v-initial' });
    await registry.setAlias('broken', 'champion', 'v-initial', 'test setup');

    // Act
    const run = await stack.runStateMachine('retrain', { trigger: 'test', families: ['broken', ITEM_DEMAND] }, { executionName: 'plugin-2-broken' });

    // Assess
    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('ModelFamiliesFailed');
    const report = JSON.parse(Buffer.from((await blobs.getBytes('runs/plugin-2-broken/report.json')) ?? []).toString('utf8')) as RunReport;
    expect(report.failedFamilies).toEqual(['broken']);
    expect(report.families.find((f) => f.family === 'broken')?.error?.Cause).toContain('training failed on purpose');
    const demand = report.families.find((f) => f.family === ITEM_DEMAND);
    expect(demand?.gate?.passed).toBe(false); // judged on its own: an identical retrain gains no MAE over its champion
    expect(demand?.gate?.reasons.join(' ')).toMatch(/MAE .* improves on the champion's .* by 0\.0000 \(lower is better\), at least 0\.0001 needed/);
    expect(demand?.champion?.version).toBe(demandChampion);
    expect(await champion('broken')).toBe('v-initial');
    const notifications = (await blobs.listKeys('notifications/plugin-2-broken/')).filter((k) => k.endsWith('NotifyFamilyFailure.json'));
    expect(notifications).toHaveLength(1);
  }, 240_000);

  it('never gates a candidate whose served artifact breaks its family serving contract', async () => {
    // Prepare
    unregister.push(registerFamily(misfitFamily, misfitTrainer));

    // Act
    const run = await stack.runStateMachine('retrain', { trigger: 'test', families: ['misfit'] }, { executionName: 'plugin-3-misfit' });

    // Assess
    expect(run.status).toBe('FAILED');
    const report = JSON.parse(Buffer.from((await blobs.getBytes('runs/plugin-3-misfit/report.json')) ?? []).toString('utf8')) as RunReport;
    expect(report.outcome).toBe('failed');
    expect(report.families[0]?.error?.Cause).toContain('breaks the misfit serving contract: output');
    expect(report.families[0]?.gate).toBeUndefined();
    expect(await champion('misfit')).toBeUndefined();
  }, 240_000);

  it('keeps the evaluation and the gate decision of a family whose promotion fails, and leaves its champion unset', async () => {
    // Prepare: a fresh family passes its gate (no champion yet); its PromoteModel task then fails.
    unregister.push(registerFamily({ ...itemDemandFamily, name: 'late' } as ModelFamily, linearTrainer('late')));
    const conflict = async () => {
      const error = new Error('late/champion points to x, expected (nothing): it was moved concurrently');
      error.name = 'AliasConflictError';
      throw error;
    };

    // Act
    const run = await stack.runStateMachine(
      'retrain',
      { trigger: 'test', families: ['late'] },
      { executionName: 'plugin-4-late', retryDelayMs: 0, runOptions: { overrides: { taskResourceLocalHandlers: { PromoteModel: conflict } } } },
    );

    // Assess
    expect(run.status).toBe('FAILED');
    const report = JSON.parse(Buffer.from((await blobs.getBytes('runs/plugin-4-late/report.json')) ?? []).toString('utf8')) as RunReport;
    const late = report.families[0];
    expect(late?.gate?.passed).toBe(true);
    expect(late?.metrics.MAE).toBeGreaterThan(0);
    expect(late?.error?.Error).toBe('AliasConflictError');
    expect(report.failedFamilies).toEqual(['late']);
    expect(await champion('late')).toBeUndefined();
  }, 240_000);
});
