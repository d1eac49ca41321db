import { describe, expect, it } from 'vitest';
import { ModelRegistry } from '../../../../shared/registry/registry';
import { recordRun, recoverResults } from '../../../../shared/reports/runs';
import { MemoryObjectStore } from '../../../../shared/storage/memory-object-store';
import type { RunState } from '../../../../shared/training/run';

const card = (family: string, version: string, evaluated: boolean) => ({
  family,
  version,
  createdAt: '2026-10-01T00:00:00.000Z',
  algorithm: 'test',
  hyperparameters: {},
  signature: { inputs: [], outputs: [] },
  data: { snapshot: 'r-1', asOf: '2026-10-01T00:00:00.000Z', holdoutStart: '2026-09-24T00:00:00.000Z', users: 1, items: 1, interactions: 1 },
  trainingSeconds: 1,
  codeVersion: 'test',
  ...(evaluated
    ? {
        metrics: { 'NDCG@10': 0.3, count: 20 },
        baseline: { 'NDCG@10': 0.1, count: 20 },
        holdout: { snapshot: 'r-1', asOf: '2026-10-01T00:00:00.000Z', holdoutStart: '2026-09-24T00:00:00.000Z', cases: 20 },
        gate: { passed: true, reasons: ['better'] },
      }
    : {}),
});

describe('run report after the TrainFamilies Map failed as a whole', () => {
  it('reads back from the registry what each family reached: a promotion that happened is reported, a family without evaluation is a failure', async () => {
    // Prepare: recommender was judged and promoted, "other" was trained but never evaluated.
    const store = new MemoryObjectStore();
    const registry = new ModelRegistry(store);
    await registry.putCard(card('recommender', 'v2', true));
    await registry.setAlias('recommender', 'champion', 'v2', 'run r-1');
    await registry.putCard(card('other', 'v2', false));
    const run: Partial<RunState> = {
      runId: 'r-1',
      candidateVersion: 'v2',
      trainable: [
        { family: 'recommender', compute: 'lambda' },
        { family: 'other', compute: 'lambda' },
      ],
      error: { Error: 'States.Runtime', Cause: 'x' },
    };

    // Act
    const results = await recoverResults(store, run);
    const report = await recordRun(store, { outcome: 'failed', run }, new Date('2026-10-01T01:00:00Z'), []);

    // Assess
    expect(results[0]).toMatchObject({ family: 'recommender', promotion: { family: 'recommender', version: 'v2' }, gate: { passed: true } });
    expect(results[0]?.error).toBeUndefined();
    expect(results[1]).toMatchObject({ family: 'other', error: { Error: 'States.Runtime' } });
    expect(report.outcome).toBe('failed');
    expect(report.families.find((f) => f.family === 'recommender')?.promoted?.version).toBe('v2');
    expect(report.failedFamilies).toEqual(['other']);
    expect(await recoverResults(store, { ...run, results: [] })).toEqual([]);
  });
});
