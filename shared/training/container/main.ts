/**
 * Entry point of the training container: the path the retraining state machine takes when a
 * snapshot is too large for a Lambda (15 min, 10 GB) — an `ecs:runTask.sync` task on Fargate. It
 * runs the SAME train function as the Lambda, on the run state PrepareSnapshot wrote to S3:
 *
 *   TRAIN_FAMILY   the model family to train (recommender, …)
 *   RUN_STATE_KEY  S3 key of the run state (runs/<runId>/state.json) in DATA_BUCKET
 *   DATA_BUCKET    the data bucket
 *
 * Exit code 0 when the candidate is in the registry, 1 otherwise (the task, and so the state, fails).
 * Built into an image by ./Dockerfile. The local stack runs `runTask` in process for the same state.
 */
import { pathToFileURL } from 'node:url';
import { s3Client } from '../../aws/clients';
import { requireEnv } from '../../config/env';
import { logger, metrics } from '../../observability/powertools';
import { BlobStore } from '../../storage/blob';
import { tagRun } from '../observe';
import type { RunState } from '../run';
import { trainRecommenderCandidate } from '../trainers/recommender';

type Env = Record<string, string | undefined>;

/** One entry per family that can train in the container (the same functions the train Lambdas call). */
const TRAINERS: Record<string, (blobs: BlobStore, state: RunState, compute: string) => Promise<{ family: string; version: string; trainingSeconds: number }>> =
  {
    recommender: trainRecommenderCandidate,
  };

export interface ContainerResult {
  family: string;
  version: string;
  trainingSeconds: number;
  compute: string;
}

export async function runTask(env: Env = process.env): Promise<ContainerResult> {
  const family = requireEnv('TRAIN_FAMILY', env as NodeJS.ProcessEnv);
  const stateKey = requireEnv('RUN_STATE_KEY', env as NodeJS.ProcessEnv);
  const bucket = requireEnv('DATA_BUCKET', env as NodeJS.ProcessEnv);
  const trainer = TRAINERS[family];
  if (!trainer) throw new Error(`TRAIN_FAMILY "${family}" cannot be trained in the container (known: ${Object.keys(TRAINERS).join(', ')})`);
  const blobs = new BlobStore(s3Client(), bucket);
  const state = await blobs.getJson<RunState>(stateKey);
  if (!state) throw new Error(`RUN_STATE_KEY ${stateKey}: no run state in s3://${bucket}`);
  const compute = env.LOCAL_ECS_TASK === 'true' ? 'ecs-fargate (local emulation)' : (env.TRAINING_COMPUTE ?? 'ecs-fargate');
  tagRun(state, family);
  const started = performance.now();
  const trained = await trainer(blobs, state, compute);
  metrics.addMetric('TrainingSeconds', 'Seconds', trained.trainingSeconds);
  logger.info('candidate trained in the container', { compute, trainingSeconds: trained.trainingSeconds, taskSeconds: (performance.now() - started) / 1000 });
  return { family: trained.family, version: trained.version, trainingSeconds: trained.trainingSeconds, compute };
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  runTask()
    .then(() => metrics.publishStoredMetrics())
    .catch((error: unknown) => {
      logger.error('training container failed', error as Error);
      process.exitCode = 1;
    });
}
