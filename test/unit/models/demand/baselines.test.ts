import { describe, expect, it } from 'vitest';
import { croston, crostonState, median, movingMean, movingMedian, sba, seasonalNaive, ses, sesLevel, tsb, tsbLevel } from '../../../../models/demand/baselines';

describe('demand baselines (hand-computed values)', () => {
  const week = [1, 2, 3, 4, 5, 6, 7, 10, 20, 30, 40, 50, 60, 70];

  it('seasonal naive repeats the same weekday of the last week', () => {
    expect(seasonalNaive(week, 9)).toEqual([10, 20, 30, 40, 50, 60, 70, 10, 20]);
    expect(seasonalNaive([4, 5], 3)).toEqual([4, 5, 4]); // shorter than a week: what there is
    expect(seasonalNaive([], 2)).toEqual([0, 0]);
  });

  it('moving mean and median read the last 28 days only', () => {
    const history = [...new Array<number>(10).fill(100), ...new Array<number>(27).fill(0), 28];
    expect(movingMean(history, 2)).toEqual([1, 1]); // 28 / 28
    expect(movingMedian(history, 1)).toEqual([0]);
    expect(median([3, 1, 2, 10])).toBe(2.5);
  });

  it('simple exponential smoothing: l = l + α(y − l) from the first value', () => {
    // α = 0.5: 4 → 4 + .5(8 − 4) = 6 → 6 + .5(0 − 6) = 3
    expect(sesLevel([4, 8, 0], 0.5)).toBe(3);
    expect(ses([4, 8, 0], 2, 0.5)).toEqual([3, 3]);
  });

  it('Croston smooths sizes and intervals; SBA debiases by 1 − α/2', () => {
    // demands 6 at day 2 (interval 2), 2 at day 5 (interval 3); α = 0.5: size 6 → 4, interval 2 → 2.5
    const h = [0, 6, 0, 0, 2, 0];
    expect(crostonState(h, 0.5)).toEqual({ size: 4, interval: 2.5 });
    expect(croston(h, 1, 0.5)).toEqual([1.6]);
    expect(sba(h, 1, 0.5)[0]).toBeCloseTo(1.6 * 0.75, 12);
    expect(croston([0, 0, 0], 2)).toEqual([0, 0]);
  });

  it('TSB smooths the demand probability every day and the size on demand days', () => {
    // α = 0.5; p: 0 → 0.5 (d=1) → 0.25 → 0.625; z: 4 → 6 (y=8 on day 4)
    expect(tsbLevel([0, 4, 0, 8], 0.5, 0.5)).toBeCloseTo(0.625 * 6, 12);
    expect(tsb([0, 0], 3)).toEqual([0, 0, 0]);
  });
});
