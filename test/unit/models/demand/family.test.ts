import { describe, expect, it } from 'vitest';
import { demandFamily } from '../../../../models/demand/family';
import type { SnapshotManifest } from '../../../../shared/snapshots/snapshot';

const manifest = (days: number, itemDays = 2000, items = 40): SnapshotManifest => ({
  runId: 's',
  asOf: '2026-03-31T23:59:00.000Z',
  holdoutStart: '2026-03-24T23:59:00.000Z',
  interactionsKey: 'k',
  itemsKey: 'i',
  itemDailyKey: 'd',
  window: { firstDay: new Date(Date.parse('2026-03-31T00:00:00Z') - (days - 1) * 86_400_000).toISOString().slice(0, 10), lastDay: '2026-03-31', days },
  counts: { events: 1, interactions: 1, users: 1, items, holdoutUsers: 1, itemDays },
});

describe('demand family descriptor', () => {
  const context = { minHoldoutUsers: 1, hyperparameters: {} };

  it('needs the item daily table, enough days before the holdout and enough items, and says why not', () => {
    expect(demandFamily.sufficiency(manifest(42), context)).toEqual({ enough: true });
    expect(demandFamily.sufficiency(manifest(35), context)).toEqual({
      enough: false,
      reason: '27 days before the holdout, at least 28 needed (14 days of history, then one 7-day validation fold)',
    });
    expect(demandFamily.sufficiency(manifest(35), { ...context, hyperparameters: { minHistoryDays: 7 } })).toEqual({ enough: true });
    expect(demandFamily.sufficiency(manifest(42, 2000, 3), context)).toEqual({ enough: false, reason: '3 items in the snapshot, at least 5 needed' });
    expect(demandFamily.sufficiency(manifest(42, 30), context)).toMatchObject({
      enough: false,
      reason: expect.stringMatching(/^30 item-days with activity, at least 70 needed/),
    });
    const { itemDailyKey: _k, window: _w, ...old } = manifest(42);
    expect(demandFamily.sufficiency(old, context)).toMatchObject({ enough: false, reason: expect.stringMatching(/no item daily table/) });
  });

  it('validates its hyperparameters, markets included', () => {
    expect(demandFamily.hyperparameters.safeParse({ horizon: 28, markets: 'cn,UK', epochs: 0 }).success).toBe(true);
    expect(demandFamily.hyperparameters.safeParse({ markets: 'FR' }).error?.issues[0]?.message).toMatch(/CN, UK, US/);
    expect(demandFamily.hyperparameters.safeParse({ horizon: 0 }).success).toBe(false);
    expect(demandFamily.hyperparameters.safeParse({ lambda: 1 }).success).toBe(false);
  });

  it('is judged on WAPE, lower is better, against the best simple baseline', () => {
    expect(demandFamily.policy).toMatchObject({
      mainMetric: 'WAPE',
      direction: 'lower',
      baselineName: 'best simple',
      guardedMetrics: ['MAE', 'absBias', 'coverageError80'],
    });
    expect(demandFamily.snapshotNeeds).toEqual(['itemDaily', 'items']);
  });
});
