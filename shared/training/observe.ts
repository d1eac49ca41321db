/**
 * Observability of the retraining tasks: the run id and the model version on every log line of the
 * invocation (the job middleware clears appended keys between invocations) and the model family and
 * version as metric dimensions.
 */
import { logger, metrics } from '../observability/powertools';

export function tagRun(run: { runId?: string; candidateVersion?: string }, family?: string): void {
  logger.appendKeys({
    ...(run.runId ? { runId: run.runId } : {}),
    ...(run.candidateVersion ? { modelVersion: run.candidateVersion } : {}),
    ...(family ? { modelFamily: family } : {}),
  });
  if (family) metrics.addDimension('modelFamily', family);
  if (run.candidateVersion) metrics.addDimension('modelVersion', run.candidateVersion);
}
