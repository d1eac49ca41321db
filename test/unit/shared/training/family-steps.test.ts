import { afterEach, describe, expect, it } from 'vitest';
import { registerFamily } from '../../../../models/families';
import { recommenderFamily } from '../../../../models/recommender/family';
import type { FamilyTrainer, ModelFamily, TrainedCard } from '../../../../shared/families/contract';
import { ModelRegistry } from '../../../../shared/registry/registry';
import { MemoryObjectStore } from '../../../../shared/storage/memory-object-store';
import { evaluateCandidate, MAX_EVALUATION_BYTES, trainCandidate } from '../../../../shared/training/family-steps';
import { runDefaults, type RunState } from '../../../../shared/training/run';

const FAMILY = 'steps-test';
const card = (snapshot: string): TrainedCard => ({
  family: FAMILY,
  version: 'v1',
  createdAt: '2026-10-01T00:00:00.000Z',
  algorithm: 'test',
  hyperparameters: {},
  signature: { inputs: [], outputs: [] },
  data: { snapshot, asOf: '2026-10-01T00:00:00.000Z', holdoutStart: '2026-09-24T00:00:00.000Z', users: 1, items: 1, interactions: 1 },
  trainingSeconds: 1,
  codeVersion: 'test',
});
const run = (): RunState => {
  const config = runDefaults({});
  return {
    runId: 'r-1',
    startedAt: '2026-10-01T00:00:00.000Z',
    config: { ...config, families: [FAMILY], policies: { ...config.policies, [FAMILY]: recommenderFamily.policy } },
    candidateVersion: 'v1',
    stateKey: 'runs/r-1/state.json',
    snapshot: {
      runId: 'r-1',
      asOf: '2026-10-01T00:00:00.000Z',
      holdoutStart: '2026-09-24T00:00:00.000Z',
      interactionsKey: 'k',
      itemsKey: 'i',
      counts: { events: 1, interactions: 1, users: 1, items: 1, holdoutUsers: 1 },
    },
  };
};

let undo: (() => void) | undefined;
afterEach(() => undo?.());

function register(trainer: Partial<FamilyTrainer>): void {
  undo = registerFamily({ ...recommenderFamily, name: FAMILY } as unknown as ModelFamily, trainer as FamilyTrainer);
}

describe('the generic train and evaluate steps', () => {
  it('refuses a version that already holds a model of another snapshot (colliding version ids), before judging it', async () => {
    // Prepare: the "trainer" returns the card an earlier run left under the same version id.
    register({ train: async () => card('another-run') });

    // Act
    const attempt = trainCandidate(new MemoryObjectStore(), run(), FAMILY, 'lambda');

    // Assess
    await expect(attempt).rejects.toThrow(/already holds a model trained on snapshot another-run, not this run's r-1: version ids collided/);
  });

  it('refuses an evaluation too large to travel in the state machine, naming its size', async () => {
    // Prepare
    const store = new MemoryObjectStore();
    await new ModelRegistry(store).putCard(card('r-1'));
    const metrics = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`segment_${i}_mae`, i / 7]));
    register({ evaluate: async () => ({ metrics, baseline: {}, cases: 10 }) });

    // Act
    const attempt = evaluateCandidate(store, { family: FAMILY, compute: 'lambda', run: run() });

    // Assess
    await expect(attempt).rejects.toThrow(new RegExp(`evaluation is \\d+ bytes, more than ${MAX_EVALUATION_BYTES}`));
  });

  it('passes a small evaluation through with the candidate from its card', async () => {
    // Prepare
    const store = new MemoryObjectStore();
    await new ModelRegistry(store).putCard({ ...card('r-1'), compute: 'lambda' } as TrainedCard);
    register({ evaluate: async () => ({ metrics: { MAE: 1 }, baseline: { MAE: 2 }, cases: 10 }) });

    // Act
    const evaluation = await evaluateCandidate(store, { family: FAMILY, compute: 'lambda', run: run() });

    // Assess
    expect(evaluation).toMatchObject({ family: FAMILY, candidate: { version: 'v1', compute: 'lambda' }, metrics: { MAE: 1 }, cases: 10 });
  });
});
