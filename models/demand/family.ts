/**
 * The `demand` family: daily units per item for the next `horizon` days (default 28) as quantiles
 * 0.1 / 0.5 / 0.9, chosen on rolling-origin validation among the simple baselines (seasonal naive,
 * moving mean and median, SES, Croston / SBA / TSB) and a global linear quantile model over all
 * items (./select.ts), with 80 % intervals calibrated on validation (conformal offsets per horizon
 * bucket). Judged on the snapshot's holdout days of the items with history, against the best simple
 * baseline of the same run. Light: no model code here (./trainer.ts is the heavy half).
 *
 * Serving contract (./model.ts): inputs `features` float32 [N, F] (the rows of ./features.ts, F = 30,
 * in the order of FEATURES, recorded in the artifact's `features.json` and the model's metadata) and
 * `scale` float32 [N, 1] (the item's mean daily units over its last 56 days), output `quantiles`
 * float32 [N, 3] (units of the target day: q0.1, q0.5, q0.9).
 */
import { z } from 'zod';
import type { ModelFamily } from '../../shared/families/contract';
import { DEFAULT_MARKETS, parseMarkets } from './calendar';

export const DEMAND = 'demand';

export const demandHyperparameters = z.strictObject({
  horizon: z.number({ message: 'must be a number' }).int('must be an integer').min(1, 'must be at least 1').max(90, 'must be at most 90').optional(),
  folds: z.number({ message: 'must be a number' }).int('must be an integer').min(1, 'must be at least 1').max(8, 'must be at most 8').optional(),
  minHistoryDays: z.number({ message: 'must be a number' }).int('must be an integer').min(1, 'must be at least 1').max(365, 'must be at most 365').optional(),
  minItems: z.number({ message: 'must be a number' }).int('must be an integer').min(1, 'must be at least 1').optional(),
  epochs: z
    .number({ message: 'must be a number' })
    .int('must be an integer')
    .min(0, 'must be at least 0 (0 leaves the global model out)')
    .max(50, 'must be at most 50')
    .optional(),
  markets: z
    .string({ message: 'must be a comma-separated list of markets' })
    .refine(
      (v) => {
        try {
          parseMarkets(v);
          return true;
        } catch {
          return false;
        }
      },
      { message: 'must list markets among CN, UK, US, comma-separated' },
    )
    .optional(),
});
export type DemandHyperparameters = z.infer<typeof demandHyperparameters>;

export const DEMAND_DEFAULTS = { horizon: 28, folds: 3, minHistoryDays: 14, minItems: 5, epochs: 6 } as const;

/** The markets of a run: the hyperparameter, else DEMAND_MARKETS, else CN,UK,US. */
export const demandMarkets = (h: { markets?: unknown }) => (typeof h.markets === 'string' ? h.markets : (process.env.DEMAND_MARKETS ?? DEFAULT_MARKETS));

const DAY = 86_400_000;

export const demandFamily: ModelFamily<DemandHyperparameters & Record<string, number | string>> = {
  name: DEMAND,
  description: 'Daily demand per item: quantiles 0.1/0.5/0.9 for the next days, chosen on rolling-origin validation',
  hyperparameters: demandHyperparameters,
  snapshotNeeds: ['itemDaily', 'items'],
  sufficiency(snapshot, context) {
    if (!snapshot.window || !snapshot.itemDailyKey)
      return { enough: false, reason: 'the snapshot has no item daily table (written before snapshots carried it)' };
    const h = context.hyperparameters;
    const minHistory = Number(h.minHistoryDays ?? DEMAND_DEFAULTS.minHistoryDays);
    const minItems = Number(h.minItems ?? DEMAND_DEFAULTS.minItems);
    const first = Date.parse(`${snapshot.window.firstDay}T00:00:00Z`);
    const holdoutStart = Date.parse(snapshot.holdoutStart);
    const before = Math.floor((holdoutStart - first) / DAY);
    const holdoutDays = Math.max(1, Math.floor((Date.parse(snapshot.asOf) - holdoutStart) / DAY));
    const needed = minHistory + 2 * holdoutDays;
    if (before < needed)
      return {
        enough: false,
        reason: `${before} days before the holdout, at least ${needed} needed (${minHistory} days of history, then one ${holdoutDays}-day validation fold)`,
      };
    const items = snapshot.counts.items;
    if (items < minItems) return { enough: false, reason: `${items} items in the snapshot, at least ${minItems} needed` };
    const itemDays = snapshot.counts.itemDays ?? 0;
    if (itemDays < minItems * minHistory)
      return {
        enough: false,
        reason: `${itemDays} item-days with activity, at least ${minItems * minHistory} needed (${minItems} items × ${minHistory} days)`,
      };
    return { enough: true };
  },
  computeSize: (snapshot) => snapshot.counts.itemDays ?? snapshot.counts.interactions,
  policy: {
    mainMetric: 'WAPE',
    direction: 'lower',
    minImprovement: 0.001,
    tolerance: 0.03,
    guardedMetrics: ['MAE', 'absBias', 'coverageError80'],
    minCases: 50,
    comparison: 'absolute',
    baselineMetrics: ['WAPE'],
    requireSameCases: true,
    baselineName: 'best simple',
  },
  serving: {
    inputs: [
      { name: 'features', type: 'float32', shape: '[N, 30]' },
      { name: 'scale', type: 'float32', shape: '[N, 1]' },
    ],
    outputs: [{ name: 'quantiles', type: 'float32', shape: '[N, 3]' }],
    documentedIn: 'models/demand/model.ts',
  },
  presentation: {
    title: 'Demand forecast',
    metrics: ['WAPE', 'MAE', 'MASE', 'bias', 'wQL50', 'wQL90', 'coverage80'],
    casesLabel: 'item-days',
    evaluationSet: 'the holdout days of the items sold before it (at least minHistoryDays earlier)',
  },
  uploads: false,
};
