import { resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Candidate, TrainedCandidate } from '../../../../models/evaluation/candidate';
import { loadAmazonSequences, loadSessions } from '../../../../models/evaluation/datasets';
import { type EvalSplit, leaveOneOutSplit, sessionSplit } from '../../../../models/evaluation/protocols';
import { evaluateTrained } from '../../../../models/evaluation/scoring';
import { invertSpd } from '../../../../models/recommender/block-inverse';
import { blendCandidate } from '../../../../models/recommender/blend';
import { checkRecommenderSession, INPUT_ITEM_IDS, INPUT_ITEM_WEIGHTS, OUTPUT_SCORES } from '../../../../models/recommender/contract';
import { easeCandidate, easeWeights } from '../../../../models/recommender/ease-candidate';
import { itemKnnCandidate } from '../../../../models/recommender/item-knn';
import { servingWeights } from '../../../../models/recommender/linear';
import { popularityCandidate } from '../../../../models/recommender/popularity';
import { transitionCandidate } from '../../../../models/recommender/transition';
import { sknnCandidate } from '../../../../models/session/sknn';
import { slistCandidate } from '../../../../models/session/slist';
import { createSession } from '../../../../shared/onnx/session';
import { mulberry32 } from '../../../../shared/random';

const FIXTURES = resolve(import.meta.dirname, '../../../fixtures/eval');

async function quality(candidate: Candidate, split: EvalSplit) {
  const trained = await candidate.train(split.test.train);
  const { metrics } = await evaluateTrained(trained, split, split.test.cases, [10, 20]);
  return { trained, metrics };
}

/** Dense n×n product in float64, rounded to float32. */
function multiply(a: Float32Array, b: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += a[i * n + k]! * b[k * n + j]!;
      out[i * n + j] = s;
    }
  }
  return out;
}

describe('candidates on user sequences with an obvious structure (each user walks one cluster of items in order)', () => {
  const split = leaveOneOutSplit(loadAmazonSequences(resolve(FIXTURES, 'sequences.txt')));
  let popularity: Awaited<ReturnType<typeof quality>>['metrics'];
  beforeAll(async () => {
    popularity = (await quality(popularityCandidate(), split)).metrics;
  });

  const candidates: Candidate[] = [
    itemKnnCandidate({ neighbours: 10, halfLife: 2 }),
    easeCandidate({ lambda: 10, halfLife: 2 }),
    transitionCandidate({ window: 2, halfLife: 1 }),
    slistCandidate({ alpha: 0.2, reg: 1, trainWeight: 1, predictWeight: 1, sessionWeightDays: 0 }),
    blendCandidate([
      { candidate: easeCandidate({ lambda: 10, halfLife: 4 }), weight: 0.5 },
      { candidate: transitionCandidate({ window: 1, halfLife: 1 }), weight: 1 },
      { candidate: popularityCandidate(), weight: 0.01 },
    ]),
  ];
  for (const candidate of candidates) {
    it(`${candidate.name} beats popularity on NDCG@10 and HR@10`, async () => {
      // Act
      const { metrics } = await quality(candidate, split);

      // Assess
      expect(metrics['NDCG@10']).toBeGreaterThan(popularity['NDCG@10']! + 0.1);
      expect(metrics['HR@10']).toBeGreaterThan(popularity['HR@10']!);
    });
  }

  it('the transition model ranks the next item of the walk first', async () => {
    // Prepare: items '1'..'6' form one cluster walked in order.
    const trained = await transitionCandidate({ window: 1, halfLife: 1 }).train(split.test.train);
    const idx = (id: string) => split.itemIds.indexOf(id);

    // Act
    const scores = await trained.score(Int32Array.from([idx('2'), idx('3')]));

    // Assess
    const best = scores.indexOf(Math.max(...scores));
    expect(split.itemIds[best]).toBe('4');
  });
});

describe('session candidates on a tiny session set', () => {
  const split = sessionSplit(loadSessions(resolve(FIXTURES, 'sessions_train_full.txt')));
  const candidates: Candidate[] = [
    sknnCandidate({ variant: 'sknn', k: 50, sampleSize: 500 }),
    sknnCandidate({ variant: 'vsknn', k: 50, sampleSize: 500 }),
    slistCandidate({ alpha: 0.5, reg: 10, trainWeight: 1, predictWeight: 1, sessionWeightDays: 1 }),
    transitionCandidate({ window: 3, rowNorm: 0.5, halfLife: 1 }),
  ];
  for (const candidate of candidates) {
    it(`${candidate.name} beats popularity on MRR@20`, async () => {
      // Prepare
      const baseline = (await quality(popularityCandidate(), split)).metrics;

      // Act
      const { metrics } = await quality(candidate, split);

      // Assess
      expect(metrics['MRR@20']).toBeGreaterThan(baseline['MRR@20']! + 0.1);
    });
  }

  it('SKNN scores only items of neighbouring sessions, and includes items already in the session', async () => {
    // Prepare
    const trained = await sknnCandidate({ variant: 'sknn', k: 100, sampleSize: 500 }).train(split.test.train);
    const first = split.test.train.sequences[0]!;

    // Act
    const scores = await trained.score(first.slice(0, 1));

    // Assess
    expect(scores[first[0]!]).toBeGreaterThan(0); // repeat clicks are legal: the item itself is scored
    const reachable = new Set(split.test.train.sequences.filter((s) => s.includes(first[0]!)).flatMap((s) => Array.from(s)));
    scores.forEach((v, i) => {
      if (!reachable.has(i)) expect(v).toBe(0);
    });
  });
});

describe('ONNX export of the linear candidates (recommender contract)', () => {
  const split = leaveOneOutSplit(loadAmazonSequences(resolve(FIXTURES, 'sequences.txt')));
  const exportable: Candidate[] = [
    popularityCandidate(),
    itemKnnCandidate({ neighbours: 10, halfLife: 3 }),
    easeCandidate({ lambda: 10, halfLife: Number.POSITIVE_INFINITY }),
    transitionCandidate({ window: 2, rowNorm: 0.5, halfLife: 1 }),
    slistCandidate({ alpha: 0.5, reg: 1, trainWeight: 1, predictWeight: 2, sessionWeightDays: 0 }),
    // Terms with different half-lives in ONE graph: the short one is derived in-graph as w^γ.
    blendCandidate([
      { candidate: easeCandidate({ lambda: 10, halfLife: 8 }), weight: 2 },
      { candidate: transitionCandidate({ window: 1, halfLife: 0.5 }), weight: 1 },
      { candidate: popularityCandidate(), weight: 0.1 },
    ]),
    // Terms sharing a half-life are summed into one exported matrix.
    blendCandidate(
      [
        { candidate: easeCandidate({ lambda: 10, halfLife: 2 }), weight: 2 },
        { candidate: itemKnnCandidate({ neighbours: 5, halfLife: 2 }), weight: 0.5 },
      ],
      'blend-same-half-life',
    ),
  ];
  for (const candidate of exportable) {
    it(`${candidate.name}: passes the contract check and matches score() position by position`, async () => {
      // Prepare
      const trained: TrainedCandidate = await candidate.train(split.test.train);
      expect(trained.toOnnx).toBeTypeOf('function');
      const session = await createSession(trained.toOnnx!());

      // Act
      const check = await checkRecommenderSession(session, split.nItems, { checkPaddingInvariance: true });
      let maxDiff = 0;
      for (const c of split.test.cases.slice(0, 12)) {
        const L = c.history.length;
        const out = await session.run({
          [INPUT_ITEM_IDS]: new ort.Tensor('int64', BigInt64Array.from(c.history, BigInt), [1, L]),
          [INPUT_ITEM_WEIGHTS]: new ort.Tensor('float32', servingWeights(L), [1, L]),
        });
        const onnx = out[OUTPUT_SCORES]!.data as Float32Array;
        const js = await trained.score(c.history);
        for (let i = 0; i < js.length; i++) maxDiff = Math.max(maxDiff, Math.abs(js[i]! - onnx[i]!) / Math.max(1, Math.abs(js[i]!)));
      }
      await session.release();

      // Assess
      expect(check).toEqual({ ok: true });
      expect(maxDiff).toBeLessThan(1e-4);
    });
  }

  it('a blend of terms with different half-lives keeps the interaction strength a linear factor in every term', async () => {
    // Prepare: EASE (half-life 8) + transition (half-life 0.5), no bias; a purchase weighs 5× a view.
    const trained = await blendCandidate([
      { candidate: easeCandidate({ lambda: 10, halfLife: 8 }), weight: 2 },
      { candidate: transitionCandidate({ window: 1, halfLife: 0.5 }), weight: 1 },
    ]).train(split.test.train);
    const session = await createSession(trained.toOnnx!());
    const history = split.test.cases.find((c) => c.history.length >= 4)!.history;
    const L = history.length;
    const run = async (weights: Float32Array) =>
      (
        await session.run({
          [INPUT_ITEM_IDS]: new ort.Tensor('int64', BigInt64Array.from(history, BigInt), [1, L]),
          [INPUT_ITEM_WEIGHTS]: new ort.Tensor('float32', weights, [1, L]),
        })
      )[OUTPUT_SCORES]!.data as Float32Array;
    const base = servingWeights(L);

    // Act: every position bought (strength 5) vs viewed (strength 1).
    const viewed = await run(base);
    const bought = await run(base.map((w) => 5 * w));
    await session.release();

    // Assess: exactly 5× (a power of the weight, as w^γ would give, is not linear).
    let maxDiff = 0;
    for (let i = 0; i < viewed.length; i++) maxDiff = Math.max(maxDiff, Math.abs(bought[i]! - 5 * viewed[i]!) / Math.max(1e-3, Math.abs(5 * viewed[i]!)));
    expect(viewed.some((v) => v !== 0)).toBe(true);
    expect(maxDiff).toBeLessThan(1e-4);
  });

  it('SKNN (neighbour search) and blends containing it have no ONNX export', async () => {
    // Prepare
    const sessions = sessionSplit(loadSessions(resolve(FIXTURES, 'sessions_train_full.txt')));

    // Act
    const sknn = await sknnCandidate({ variant: 'sknn', k: 10, sampleSize: 100 }).train(sessions.test.train);
    const blend = await blendCandidate([
      { candidate: sknnCandidate({ variant: 'sknn', k: 10, sampleSize: 100 }), weight: 1 },
      { candidate: popularityCandidate(), weight: 1 },
    ]).train(sessions.test.train);

    // Assess
    expect(sknn.toOnnx).toBeUndefined();
    expect(blend.toOnnx).toBeUndefined();
  });
});

describe('block inverse (EASE over more items than one ORT Inverse handles quickly)', () => {
  it('inverts an SPD matrix through three levels of Schur complements', async () => {
    // Prepare: G = AᵀA + 5I, 257 × 257 (odd sizes on purpose), leaves of at most 40.
    const n = 257;
    const r = mulberry32(3);
    const A = Float32Array.from({ length: n * n }, () => (r() < 0.05 ? 1 : 0));
    const At = Float32Array.from({ length: n * n }, (_, k) => A[(k % n) * n + Math.floor(k / n)]!);
    const G = multiply(At, A, n);
    for (let i = 0; i < n; i++) G[i * n + i]! += 5;

    // Act
    const P = await invertSpd(G, n, { leafSize: 40 });

    // Assess: G·P = I.
    const I = multiply(G, P, n);
    const maxErr = Math.max(...I.map((v, k) => Math.abs(v - (k % (n + 1) === 0 ? 1 : 0))));
    expect(maxErr).toBeLessThan(1e-4);
  });

  it('gives the same EASE weights as trainEase', async () => {
    // Prepare
    const split = leaveOneOutSplit(loadAmazonSequences(resolve(FIXTURES, 'sequences.txt')));

    // Act
    const reference = await easeWeights(split.test.train, 5);
    const block = await easeWeights(split.test.train, 5, { blockAbove: 0, leafSize: 8 });

    // Assess
    let maxDiff = 0;
    for (let k = 0; k < reference.length; k++) maxDiff = Math.max(maxDiff, Math.abs(reference[k]! - block[k]!));
    expect(maxDiff).toBeLessThan(1e-4);
  });
});
