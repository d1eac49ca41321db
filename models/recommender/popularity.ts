/**
 * Popularity baseline: the same ranking for every history, by number of training interactions
 * (weighted by interaction strength when the data carries weights), normalised to a maximum of 1.
 * Served with buildPopularityOnnx; as a linear model it is a bias vector (so it can enter a blend).
 */
import type { Candidate, TrainData, TrainedCandidate } from '../evaluation/candidate';
import { buildPopularityOnnx } from './export';
import type { LinearTrainedCandidate } from './linear';
import { itemCounts, seconds } from './train-data';

export function popularityVector(data: TrainData): Float32Array {
  const counts = itemCounts(data);
  let max = 0;
  for (const c of counts) max = Math.max(max, c);
  return Float32Array.from(counts, (c) => (max > 0 ? c / max : 0));
}

export function popularityCandidate(name = 'popularity'): Candidate {
  return {
    name,
    async train(data: TrainData): Promise<TrainedCandidate> {
      const started = performance.now();
      const popularity = popularityVector(data);
      const trained: LinearTrainedCandidate = {
        name,
        trainingSeconds: seconds(started),
        params: {},
        linear: { nItems: data.nItems, terms: [], bias: popularity },
        score: () => popularity.slice(),
        toOnnx: () => buildPopularityOnnx(popularity, { algorithm: 'popularity' }),
      };
      return trained;
    },
  };
}
