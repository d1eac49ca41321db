/**
 * The `recommender` family: a score per catalogue item from a shopper's history (the contract in
 * ./contract.ts), chosen on validation among item-kNN, EASE, transition, popularity and the GRU
 * (./select.ts), judged on the next items of shoppers in the time-based holdout. Light: no model
 * code is imported here (./trainer.ts is the heavy half).
 */
import { z } from 'zod';
import type { ModelFamily } from '../../shared/families/contract';

export const RECOMMENDER = 'recommender';

/** Mirrors `SelectionOptions` (./select.ts: RecommenderTrainOptions + validationDays); a unit test keeps them in step. */
export const recommenderHyperparameters = z.strictObject({
  lambda: z.number({ message: 'must be a number' }).positive('must be > 0').max(1e12, 'must be at most 1e12').optional(),
  maxItems: z.number({ message: 'must be a number' }).int('must be an integer').min(1, 'must be at least 1').max(6000, 'must be at most 6000').optional(),
  minItemInteractions: z.number({ message: 'must be a number' }).int('must be an integer').min(1, 'must be at least 1').optional(),
  popularityHalfLifeDays: z.number({ message: 'must be a number' }).positive('must be > 0').optional(),
  sequenceTrainingSeconds: z
    .number({ message: 'must be a number' })
    .min(0, 'must be at least 0 (0 leaves the sequence model out)')
    .max(600, 'must be at most 600')
    .optional(),
  validationDays: z.number({ message: 'must be a number' }).int('must be an integer').min(1, 'must be at least 1').max(90, 'must be at most 90').optional(),
});

/** The recommender's own field of an upload manifest: which item each output score is for. */
export const recommenderUploadManifest = z.object({
  itemIndex: z.union(
    [
      z.literal('champion'),
      z
        .array(z.string({ message: 'must be an item id (string)' }).min(1, 'must not be empty').max(200, 'must be at most 200 characters'), {
          message: "must be 'champion' or a list of item ids",
        })
        .min(1, 'must list at least one item id')
        .max(1_000_000, 'must list at most 1,000,000 item ids')
        .refine((ids) => new Set(ids).size === ids.length, { message: 'must not repeat an item id' }),
    ],
    { message: "must be 'champion' or a non-empty list of item ids (the model's output order)" },
  ),
});

/** Fewest items a recommender is trained on. */
const MIN_ITEMS = 10;

export const recommenderFamily: ModelFamily<z.infer<typeof recommenderHyperparameters> & Record<string, number>> = {
  name: RECOMMENDER,
  description: 'Personalised recommendations: a score for every catalogue item from the shopper’s history',
  hyperparameters: recommenderHyperparameters,
  snapshotNeeds: ['interactions', 'items'],
  sufficiency(snapshot, context) {
    const { holdoutUsers, items } = snapshot.counts;
    if (holdoutUsers < context.minHoldoutUsers) {
      return { enough: false, reason: `${holdoutUsers} shoppers with events before and in the holdout, at least ${context.minHoldoutUsers} needed` };
    }
    if (items < MIN_ITEMS) return { enough: false, reason: `${items} items with interactions, at least ${MIN_ITEMS} needed` };
    return { enough: true };
  },
  computeSize: (snapshot) => snapshot.counts.interactions,
  policy: {
    mainMetric: 'NDCG@10',
    direction: 'higher',
    minImprovement: 0.001,
    tolerance: 0.01,
    guardedMetrics: ['NDCG@10', 'HR@10', 'MRR@10', 'HR@20'],
    minCases: 10,
    comparison: 'absolute',
    baselineMetrics: ['NDCG@10'],
    requireSameCases: true,
    baselineName: 'popularity',
  },
  serving: {
    inputs: [
      { name: 'item_ids', type: 'int64', shape: '[1, L]' },
      { name: 'item_weights', type: 'float32', shape: '[1, L]' },
    ],
    outputs: [{ name: 'scores', type: 'float32', shape: '[1, N]' }],
    documentedIn: 'models/recommender/contract.ts',
  },
  presentation: {
    title: 'Recommendations',
    metrics: ['HR@10', 'NDCG@10', 'MRR@10', 'HR@20'],
    casesLabel: 'holdout shoppers',
    evaluationSet: 'the next items of shoppers active before and during the holdout window',
  },
  uploads: true,
  uploadManifest: recommenderUploadManifest,
};
