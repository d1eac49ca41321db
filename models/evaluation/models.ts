/**
 * The evaluation catalogue: which candidates run on which kind of split, with which hyperparameter grid.
 * Grids are kept small on purpose: every variant is trained on the validation stage (dense 12k-item
 * models cost about a minute each on 2 cores); variants differing only by their scoring half-life share
 * their trained matrix (memoByData).
 */
import { easeCandidate } from '../recommender/ease-candidate';
import { itemKnnCandidate } from '../recommender/item-knn';
import { popularityCandidate } from '../recommender/popularity';
import { transitionCandidate } from '../recommender/transition';
import { slistCandidate } from '../session/slist';
import { sknnCandidate } from '../session/sknn';
import type { Candidate } from './candidate';
import type { EntrySpec, ModelSpec } from './runner';

export type SplitKind = 'sequences' | 'sessions';

const INF = Number.POSITIVE_INFINITY;

function grid<T>(axes: T[][]): T[][] {
  return axes.reduce<T[][]>((acc, values) => acc.flatMap((prefix) => values.map((v) => [...prefix, v])), [[]]);
}

export interface CatalogueOptions {
  /** Number of items of the split (large catalogues get the cheaper grids). */
  nItems: number;
}

/** Every model the CLI knows for a kind of split, in run order; `defaults` are run without --models. */
export function catalogue(kind: SplitKind, options: CatalogueOptions): { specs: EntrySpec[]; defaults: string[] } {
  const big = options.nItems > 6000;
  const popularity: ModelSpec = { name: 'popularity', variants: [popularityCandidate()] };
  const transitions = (windows: number[], rowNorms: number[], backwards: number[], halfLives: number[]): Candidate[] =>
    grid<number>([windows, rowNorms, backwards, halfLives]).map(([w, rn, b, h]) =>
      transitionCandidate({ window: w!, rowNorm: rn!, backward: b!, halfLife: h! }),
    );
  const eases = (lambdas: number[], halfLives: number[]): Candidate[] =>
    grid<number>([lambdas, halfLives]).map(([lambda, h]) => easeCandidate({ lambda: lambda!, halfLife: h! }));
  const slists = (alphas: number[], regs: number[], trainWeights: number[], predictWeights: number[], sessionWeightDays: number): Candidate[] =>
    grid<number>([alphas, regs, trainWeights, predictWeights]).map(([alpha, reg, tw, pw]) =>
      slistCandidate({ alpha: alpha!, reg: reg!, trainWeight: tw!, predictWeight: pw!, sessionWeightDays }),
    );

  if (kind === 'sequences') {
    const specs: EntrySpec[] = [
      popularity,
      {
        name: 'itemknn',
        variants: grid<number>([
          [50, 200],
          [INF, 4],
        ]).map(([k, h]) => itemKnnCandidate({ neighbours: k!, halfLife: h! })),
      },
      // Over 6000 items every λ is a ~12k-item inverse (about 45 s on 2 idle cores): two values only.
      { name: 'ease', variants: eases(big ? [100, 300] : [30, 100, 300, 1000], [INF, 4, 2, 1]) },
      // Reverse pairs (backward 0.25) gained ~0.001 NDCG@10 alone on Beauty's validation split but made the
      // transition a worse complement to EASE in the blend (validation 0.0671 vs 0.0683): forward only here.
      { name: 'transition', variants: transitions([2, 10, 50], [0, 0.5], [0], [1, 2]) },
      { name: 'slist', variants: slists([0, 0.5], [10], [1], [1, 2], 0) },
      { name: 'blend', components: ['popularity', 'itemknn', 'ease', 'transition', 'slist'] },
    ];
    // SLIST needs an n×n inverse AND an n×n product per variant: over 6000 items it is opt-in.
    const defaults = ['popularity', 'itemknn', 'ease', 'transition', ...(big ? [] : ['slist']), 'blend'];
    return { specs, defaults };
  }
  const sknn = (variant: 'sknn' | 'vsknn', ks: number[], samples: number[]): Candidate[] =>
    grid<number>([ks, samples]).map(([k, sampleSize]) => sknnCandidate({ variant, k: k!, sampleSize: sampleSize! }));
  const specs: EntrySpec[] = [
    popularity,
    { name: 'sknn', variants: sknn('sknn', [100, 200, 500], [500, 1000]) },
    { name: 'vsknn', variants: sknn('vsknn', [100, 200], [500, 1000, 2500]) },
    { name: 'transition', variants: transitions([1, 3, 10], [0, 0.5], [0], [0.5, 1]) },
    { name: 'ease', variants: eases([10, 50, 200], [2, 1, 0.5]) },
    // Centred on the plateau found on YOOCHOOSE's validation split (α 0.9–0.95, small λ, τ_train 0.25–0.5,
    // τ_predict 0.5); a wider sweep there (81 settings) moved validation MRR@20 by < 0.002 around it.
    { name: 'slist', variants: slists([0.8, 0.95], [1, 10], [0.5], [0.5, 1], 8) },
    { name: 'blend', components: ['popularity', 'vsknn', 'transition', 'ease', 'slist'] },
  ];
  return { specs, defaults: ['popularity', 'sknn', 'vsknn', 'transition', 'ease', 'slist', 'blend'] };
}
