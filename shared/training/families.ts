/**
 * The model families the retraining state machine trains, as data: which hyperparameters a run may
 * override (what a family is judged on is the gate's: shared/registry/gate.ts). Kept free of model code (no onnxruntime, no tfjs) so the
 * light retraining tasks (PrepareSnapshot, GateCandidates, PromoteModel, RecordRun) can import it.
 *
 * Adding a family: an entry here, `shared/training/trainers/<family>.ts` (train + evaluate), two
 * Lambdas `functions/retrain/{train,evaluate}-<family>.ts`, and ONE branch in the `TrainAndEvaluate`
 * Parallel state of serverless.yml (the branch template is the recommender's).
 */
import { z } from 'zod';

export interface FamilySpec {
  /** Registry family name (models/<family>/…). */
  family: string;
  /** Hyperparameters a run may override (validated before anything is trained). */
  hyperparameters: z.ZodType<Record<string, number | string | boolean>>;
}

/** Mirrors `SelectionOptions` (models/recommender/select.ts: RecommenderTrainOptions + validationDays); a unit test keeps them in step. */
const recommenderHyperparameters = z.strictObject({
  lambda: z.number({ message: 'must be a number' }).positive('must be > 0').max(1e12, 'must be at most 1e12').optional(),
  maxItems: z.number({ message: 'must be a number' }).int('must be an integer').min(1, 'must be at least 1').max(6000, 'must be at most 6000').optional(),
  minItemInteractions: z.number({ message: 'must be a number' }).int('must be an integer').min(1, 'must be at least 1').optional(),
  popularityHalfLifeDays: z.number({ message: 'must be a number' }).positive('must be > 0').optional(),
  sequenceTrainingSeconds: z.number({ message: 'must be a number' }).min(0, 'must be at least 0 (0 leaves the sequence model out)').max(600, 'must be at most 600').optional(),
  validationDays: z.number({ message: 'must be a number' }).int('must be an integer').min(1, 'must be at least 1').max(90, 'must be at most 90').optional(),
}) as unknown as z.ZodType<Record<string, number>>;

export const FAMILIES: Readonly<Record<string, FamilySpec>> = {
  recommender: {
    family: 'recommender',
    hyperparameters: recommenderHyperparameters,
  },
};

/** The family whose result fills the top-level fields of a run report (kept for older readers). */
export const PRIMARY_FAMILY = 'recommender';

export function familySpec(family: string): FamilySpec {
  const spec = FAMILIES[family];
  if (!spec) throw new Error(`Unknown model family "${family}" (known: ${Object.keys(FAMILIES).join(', ')})`);
  return spec;
}
