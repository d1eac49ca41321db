/**
 * Entry point of the training container: the path the retraining state machine takes when a
 * snapshot is too large for a Lambda (15 min, 10 GB) — an `ecs:runTask.sync` task on Fargate. It
 * runs the SAME train function as the Lambda, on the run state PrepareSnapshot wrote to S3:
 *
 *   TRAIN_FAMILY   the model family to train (any registered family: models/families.ts)
 *   RUN_STATE_KEY  S3 key of the run state (runs/<runId>/state.json) in DATA_BUCKET
 *   DATA_BUCKET    the data bucket
 *
 * Exit code 0 when the candidate is in the registry, 1 otherwise (the task, and so the state, fails).
 * Built into an image by ./Dockerfile. The local stack runs `runTask` in process for the same state.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { s3Client } from '../../aws/clients';
import { requireEnv } from '../../config/env';
import { logger, metrics } from '../../observability/powertools';
import { BlobStore } from '../../storage/blob';
import { hasFamily, familyNames } from '../../../models/families';
import { trainCandidate } from '../family-steps';
import { tagRun } from '../observe';
import type { RunState } from '../run';

type Env = Record<string, string | undefined>;

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
  if (!hasFamily(family)) throw new Error(`TRAIN_FAMILY "${family}" is not a model family (known: ${familyNames().join(', ')})`);
  const blobs = new BlobStore(s3Client(), bucket);
  const state = await blobs.getJson<RunState>(stateKey);
  if (!state) throw new Error(`RUN_STATE_KEY ${stateKey}: no run state in s3://${bucket}`);
  const compute = env.LOCAL_ECS_TASK === 'true' ? 'ecs-fargate (local emulation)' : (env.TRAINING_COMPUTE ?? 'ecs-fargate');
  tagRun(state, family);
  const started = performance.now();
  const trained = await trainCandidate(blobs, state, family, compute);
  metrics.addMetric('TrainingSeconds', 'Seconds', trained.trainingSeconds);
  logger.info('candidate trained in the container', { compute, trainingSeconds: trained.trainingSeconds, taskSeconds: (performance.now() - started) / 1000 });
  return { family, version: trained.version, trainingSeconds: trained.trainingSeconds, compute };
}

/**
 * Whether this module is the process's entry point (`node main.mjs` in the image, `tsx …/main.ts` by
 * hand) rather than imported (the local stack's ecs:runTask stand-in awaits runTask itself). Real
 * paths on both sides: Node resolves symlinks for the main module's URL but not in argv[1], and a
 * container that wrongly concludes "imported" would exit 0 without training — a task that "succeeds"
 * before any work is done.
 */
function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(fileURLToPath(import.meta.url)) === realpathSync(entry);
  } catch {
    return import.meta.url === pathToFileURL(entry).href;
  }
}

if (isEntryPoint()) {
  runTask()
    .then(() => metrics.publishStoredMetrics())
    .catch((error: unknown) => {
      logger.error('training container failed', error as Error);
      process.exitCode = 1;
    });
}
