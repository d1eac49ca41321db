import { logger, metrics } from '../../shared/observability/powertools';
import { jobHandler } from '../../shared/observability/job';
import { dataBlobs } from '../../shared/training/deps';
import { evaluateCandidate } from '../../shared/training/family-steps';
import { tagRun } from '../../shared/training/observe';
import type { FamilyTask } from '../../shared/training/run';

const blobs = dataBlobs();

/** Retraining, per family: scores the candidate, the champion and the family's baseline on the same cases. */
export const handler = jobHandler(async (task: FamilyTask) => {
  tagRun(task.run, task.family);
  const evaluation = await evaluateCandidate(blobs, task);
  const main = task.run.config.policies[task.family]?.mainMetric;
  if (main !== undefined && Number.isFinite(evaluation.metrics[main])) {
    // One metric name for every family (the family is a dimension): the main metric of each.
    metrics.addMetric('CandidateMainMetric', 'None', evaluation.metrics[main] as number);
    if (Number.isFinite(evaluation.baseline[main])) metrics.addMetric('BaselineMainMetric', 'None', evaluation.baseline[main] as number);
    const champion = evaluation.champion?.metrics[main];
    if (champion !== undefined && Number.isFinite(champion)) metrics.addMetric('ChampionMainMetric', 'None', champion);
  }
  metrics.addMetric('EvaluationCases', 'Count', evaluation.cases);
  logger.info('candidate evaluated', {
    mainMetric: main,
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
