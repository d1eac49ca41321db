import { logger, metrics } from '../../shared/observability/powertools';
import { jobHandler } from '../../shared/observability/job';
import { dataBlobs } from '../../shared/training/deps';
import { tagRun } from '../../shared/training/observe';
import { gateStep, type RunState } from '../../shared/training/pipeline';

const blobs = dataBlobs();

/** Retraining step 4: each family's gate (candidate vs champion vs popularity); the decision goes on the model card. */
export const handler = jobHandler(async (state: RunState) => {
  tagRun(state);
  const next = await gateStep(blobs, state);
  for (const gate of next.gate?.families ?? []) {
    const single = metrics.singleMetric();
    single.addDimensions({ modelFamily: gate.family, modelVersion: state.candidateVersion });
    single.addMetric('GatePassed', 'Count', gate.passed ? 1 : 0);
    logger.info('gate decided', { modelFamily: gate.family, passed: gate.passed, reasons: gate.reasons, championVersion: gate.championVersion });
  }
  return next;
});
