import { describe, expect, it } from 'vitest';
import { checkRecommenderSession, OUTPUT_SCORES, recommenderFeeds } from '../../../../models/recommender/contract';
import { trainEase } from '../../../../models/recommender/ease';
import {
  buildSparseItemItemOnnx,
  itemKnn,
  readSparseNeighbours,
  type SparseNeighbours,
  sparseScores,
  topKRows,
  trainSparseRecommender,
} from '../../../../models/recommender/sparse';
import { createSession } from '../../../../shared/onnx/session';
import type { Interaction } from '../../../../shared/snapshots/snapshot';
import { mulberry32 } from '../../../../shared/random';

function randomNeighbours(nItems: number, k: number, seed: number): SparseNeighbours {
  const r = mulberry32(seed);
  const indices = new Int32Array(nItems * k);
  const weights = new Float32Array(nItems * k);
  for (let p = 0; p < indices.length; p++) {
    indices[p] = Math.floor(r() * nItems);
    weights[p] = r() * 2 - 0.5;
  }
  return { nItems, k, indices, weights };
}

async function run(bytes: Uint8Array, ids: number[], weights: number[]): Promise<Float32Array> {
  const session = await createSession(bytes);
  try {
    return (await session.run(recommenderFeeds(ids, weights)))[OUTPUT_SCORES]?.data as Float32Array;
  } finally {
    await session.release();
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
  return d;
}

/** Synthetic interactions: users browse within one of `groups` item groups. */
function interactions(users: number, items: number, groups: number, seed: number): Interaction[] {
  const r = mulberry32(seed);
  const out: Interaction[] = [];
  for (let u = 0; u < users; u++) {
    const g = u % groups;
    for (let e = 0; e < 6; e++) {
      const item = g + groups * Math.floor(r() * Math.floor(items / groups));
      out.push({ p: `u${u}`, i: `i${item}`, t: e % 3 === 0 ? 'purchase' : 'view', ts: 1_700_000_000_000 + u * 1000 + e, c: 'web' });
    }
  }
  return out;
}

describe('sparse top-K item-item ONNX model', () => {
  it('meets the recommender contract, padding included', async () => {
    // Prepare
    const bytes = buildSparseItemItemOnnx(randomNeighbours(300, 8, 1));
    const session = await createSession(bytes);

    // Act
    const check = await checkRecommenderSession(session, 300, { checkPaddingInvariance: true });
    await session.release();

    // Assess
    expect(check).toEqual({ ok: true });
  });

  it('scores exactly like the JS reference, with repeated history items and neighbour collisions', async () => {
    // Prepare: 2,000 items, K = 20; indices collide on purpose (ScatterElements must add, not overwrite)
    const nb = randomNeighbours(2000, 20, 7);
    nb.indices[5] = nb.indices[6] = 42;
    const bytes = buildSparseItemItemOnnx(nb);
    const r = mulberry32(3);
    const cases = [
      { ids: [0], weights: [1] },
      { ids: [1999], weights: [2.5] },
      { ids: [0, 0, 17], weights: [1, 0.5, 3] },
      { ids: Array.from({ length: 50 }, () => Math.floor(r() * 2000)), weights: Array.from({ length: 50 }, () => r() * 3) },
      { ids: [10, 11, 0, 0], weights: [1, 1, 0, 0] },
    ];

    for (const c of cases) {
      // Act
      const got = await run(bytes, c.ids, c.weights);
      const want = sparseScores(nb, c.ids, c.weights);

      // Assess
      expect(got.length).toBe(2000);
      expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);
    }
    expect((await run(bytes, [0], [1]))[42]).toBeCloseTo((nb.weights[5] ?? 0) + (nb.weights[6] ?? 0) + sumOther(nb, 0, 42), 5);
  });

  it('reads its neighbour tables back from the model bytes', () => {
    // Prepare
    const nb = randomNeighbours(100, 5, 11);

    // Act
    const back = readSparseNeighbours(buildSparseItemItemOnnx(nb));

    // Assess
    expect(back?.k).toBe(5);
    expect(Array.from(back?.indices ?? [])).toEqual(Array.from(nb.indices));
    expect(Array.from(back?.weights ?? [])).toEqual(Array.from(nb.weights));
  });

  it('refuses neighbour indices outside the item index, naming the row', () => {
    // Prepare
    const nb = randomNeighbours(10, 2, 1);
    nb.indices[7] = 10;

    // Act / Assess
    expect(() => buildSparseItemItemOnnx(nb)).toThrow(/neighbour index 10 at row 3 is not in \[0, 10\)/);
  });
});

function sumOther(nb: SparseNeighbours, row: number, target: number): number {
  let s = 0;
  for (let p = 0; p < nb.k; p++) if (p !== 5 && p !== 6 && nb.indices[row * nb.k + p] === target) s += nb.weights[row * nb.k + p] ?? 0;
  return s;
}

describe('sparse trainers', () => {
  it('EASE truncated to K = n − 1 reproduces the dense EASE scores', async () => {
    // Prepare
    const n = 40;
    const r = mulberry32(5);
    const rows: number[] = [];
    const cols: number[] = [];
    const values: number[] = [];
    for (let u = 0; u < 120; u++) {
      for (let e = 0; e < 5; e++) {
        rows.push(u);
        cols.push((u % 8) * 5 + Math.floor(r() * 5));
        values.push(1);
      }
    }
    const B = await trainEase({ rows, cols, values, nUsers: 120, nItems: n, lambda: 10 });
    const history = { ids: [1, 7, 22], weights: [1, 2, 0.5] };
    const dense = new Float32Array(n);
    for (let l = 0; l < 3; l++) for (let j = 0; j < n; j++) dense[j]! += (history.weights[l] ?? 0) * (B[(history.ids[l] ?? 0) * n + j] ?? 0);

    // Act
    const full = topKRows(B, n, n - 1);
    const truncated = topKRows(B, n, 5);
    const fullScores = await run(buildSparseItemItemOnnx(full), history.ids, history.weights);

    // Assess
    expect(maxAbsDiff(fullScores, dense)).toBeLessThan(1e-5);
    for (let i = 0; i < n; i++) {
      const row = Array.from(B.subarray(i * n, (i + 1) * n))
        .map((w, j) => ({ w, j }))
        .filter((x) => x.j !== i);
      row.sort((a, b) => b.w - a.w || a.j - b.j);
      expect(Array.from(truncated.indices.subarray(i * 5, i * 5 + 5))).toEqual(row.slice(0, 5).map((x) => x.j));
    }
  });

  it('item-kNN keeps the top-K cosine neighbours (brute-force check)', () => {
    // Prepare: 4 users × 5 items
    const X = [
      [1, 1, 0, 0, 0],
      [1, 1, 1, 0, 0],
      [0, 0, 1, 1, 0],
      [0, 1, 0, 1, 1],
    ];
    const rows: number[] = [];
    const cols: number[] = [];
    const values: number[] = [];
    X.forEach((row, u) => {
      row.forEach((v, i) => {
        if (!v) return;
        rows.push(u);
        cols.push(i);
        values.push(v);
      });
    });
    const shrink = 0.5;
    const norm = (i: number) => Math.sqrt(X.reduce((s, row) => s + (row[i] ?? 0) ** 2, 0));
    const cos = (i: number, j: number) => X.reduce((s, row) => s + (row[i] ?? 0) * (row[j] ?? 0), 0) / (norm(i) * norm(j) + shrink);

    // Act
    const nb = itemKnn({ rows: Int32Array.from(rows), cols: Int32Array.from(cols), values: Float32Array.from(values), nUsers: 4 }, 5, { k: 2, shrink });

    // Assess
    for (let i = 0; i < 5; i++) {
      const want = [0, 1, 2, 3, 4]
        .filter((j) => j !== i && cos(i, j) > 0)
        .sort((a, b) => cos(i, b) - cos(i, a) || a - b)
        .slice(0, 2);
      const got = Array.from(nb.indices.subarray(i * 2, i * 2 + 2)).slice(0, want.length);
      expect(got).toEqual(want);
      want.forEach((j, s) => {
        expect(nb.weights[i * 2 + s]).toBeCloseTo(cos(i, j), 5);
      });
    }
  });

  it.each(['ease', 'knn'] as const)('trainSparseRecommender (%s) exports a model that meets the contract and ranks within the group', async (method) => {
    // Prepare
    const data = interactions(400, 60, 4, 9);

    // Act
    const trained = await trainSparseRecommender(data, { method, neighbours: 10, minItemInteractions: 1 });
    const session = await createSession(trained.onnx);
    const check = await checkRecommenderSession(session, trained.items.itemIds.length, { checkPaddingInvariance: true });
    const index = new Map(trained.items.itemIds.map((id, i) => [id, i]));
    const scores = (await session.run(recommenderFeeds([index.get('i0') ?? 0], [1])))[OUTPUT_SCORES]?.data as Float32Array;
    await session.release();

    // Assess
    expect(check).toEqual({ ok: true });
    expect(trained.method).toBe(method);
    const best = Array.from(scores.keys())
      .sort((a, b) => (scores[b] ?? 0) - (scores[a] ?? 0))
      .slice(0, 5);
    // Items of i0's group (ids ≡ 0 mod 4) dominate its neighbours.
    expect(best.filter((i) => Number(trained.items.itemIds[i]?.slice(1)) % 4 === 0).length).toBeGreaterThanOrEqual(4);
  });

  it("refuses method 'ease' above the EASE item limit, saying what to use instead", async () => {
    // Prepare
    const many: Interaction[] = Array.from({ length: 6002 }, (_, i) => ({ p: `u${i % 50}`, i: `i${i}`, t: 'view', ts: i, c: 'web' }));

    // Act / Assess
    await expect(trainSparseRecommender(many, { method: 'ease', minItemInteractions: 1 })).rejects.toThrow(/at most 6000 items.*use 'knn' or 'auto'/);
  });
});
