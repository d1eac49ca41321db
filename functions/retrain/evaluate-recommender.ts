import { RECOMMENDER_FAMILY } from '../../models/recommender/contract';
import { logger, metrics } from '../../shared/observability/powertools';
import { jobHandler } from '../../shared/observability/job';
import { dataBlobs } from '../../shared/training/deps';
import { tagRun } from '../../shared/training/observe';
import type { RunState } from '../../shared/training/pipeline';
import { evaluateRecommenderCandidate } from '../../shared/training/trainers/recommender';

const blobs = dataBlobs();

/** Retraining step 3: scores the candidate, the champion and the popularity baseline on the same holdout. */
export const handler = jobHandler(async (state: RunState) => {
  tagRun(state, RECOMMENDER_FAMILY);
  const evaluation = await evaluateRecommenderCandidate(blobs, state);
  metrics.addMetric('HoldoutNDCG10', 'None', evaluation.metrics['NDCG@10'] ?? 0);
  metrics.addMetric('HoldoutHR10', 'None', evaluation.metrics['HR@10'] ?? 0);
  metrics.addMetric('BaselineNDCG10', 'None', evaluation.baseline['NDCG@10'] ?? 0);
  if (evaluation.champion) metrics.addMetric('ChampionNDCG10', 'None', evaluation.champion.metrics['NDCG@10'] ?? 0);
  metrics.addMetric('HoldoutCases', 'Count', evaluation.cases);
  logger.info('recommender evaluated', {
    cases: evaluation.cases,
    candidate: evaluation.metrics,
    champion: evaluation.champion
      ? { version: evaluation.champion.version, artifact: evaluation.champion.artifact, metrics: evaluation.champion.metrics }
      : null,
    baseline: evaluation.baseline,
    championNotComparable: evaluation.championNotComparable,
  });
  return evaluation;
});
