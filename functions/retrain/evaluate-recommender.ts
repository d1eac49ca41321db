import { logger, metrics } from '../../shared/observability/powertools';
import { jobHandler } from '../../shared/observability/job';
import { dataBlobs } from '../../shared/training/deps';
import { evaluateStep, type RunState } from '../../shared/training/pipeline';

const blobs = dataBlobs();

export const handler = jobHandler(async (state: RunState) => {
  const next = await evaluateStep(blobs, state);
  metrics.addDimension('modelVersion', next.candidate?.version ?? 'unknown');
  metrics.addMetric('HoldoutNDCG10', 'None', next.evaluation?.model['NDCG@10'] ?? 0);
  metrics.addMetric('HoldoutHR10', 'None', next.evaluation?.model['HR@10'] ?? 0);
  logger.info('recommender evaluated', { runId: state.runId, modelVersion: next.candidate?.version, evaluation: next.evaluation, gate: next.gate });
  return next;
});
