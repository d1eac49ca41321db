import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { HolidayCalendar } from '../../../../models/demand/calendar';
import { buildRows, makeSeries, N_FEATURES, type SeriesSet } from '../../../../models/demand/features';
import { conformalOffsets, exportOnnx, fitQuantileModel, predictScaled, predictUnits, withConformal } from '../../../../models/demand/model';
import { pointsOf } from '../../../../models/demand/select';
import { forecastMetrics } from '../../../../models/demand/metrics';
import { mulberry32 } from '../../../../shared/random';

/** Poisson draw (Knuth) from a seeded stream. */
function poisson(rand: () => number, lambda: number): number {
  const limit = Math.exp(-lambda);
  let k = 0;
  let p = rand();
  while (p > limit) {
    k++;
    p *= rand();
  }
  return k;
}

/** Items with Poisson daily demand: a level per item, a weekly pattern (weekends × 1.8, Mondays × 0.5). */
function syntheticShop(items: number, days: number, seed: number): SeriesSet {
  const rand = mulberry32(seed);
  const start = Date.parse('2025-01-06T00:00:00Z');
  const dayList = Array.from({ length: days }, (_, k) => new Date(start + k * 86_400_000).toISOString().slice(0, 10));
  const series = Array.from({ length: items }, (_, i) => {
    const level = 0.5 + 8 * rand();
    const units = Float64Array.from(dayList, (d) => {
      const dow = new Date(`${d}T00:00:00Z`).getUTCDay();
      return poisson(rand, level * (dow === 0 || dow === 6 ? 1.8 : dow === 1 ? 0.5 : 1));
    });
    return makeSeries(`i${i}`, units);
  });
  return { days: dayList, series };
}

const calendar = new HolidayCalendar(['UK']);

describe('demand model: conformal intervals and the ONNX artifact', () => {
  it('calibrates 80 % intervals on validation rows that hold on later, unseen days', () => {
    // Prepare: fit on the first 120 days, calibrate on origins 120–147, test on origins 154–175.
    const set = syntheticShop(60, 210, 3);
    const train = buildRows(set, calendar, { origins: Array.from({ length: 100 }, (_, k) => 14 + k), horizon: 7, minHistoryDays: 14, targetsBefore: 120 });
    const model = fitQuantileModel(train, { epochs: 3 });
    const calibration = buildRows(set, calendar, { origins: [120, 127, 134, 141], horizon: 7, minHistoryDays: 14 });
    const test = buildRows(set, calendar, { origins: [154, 161, 168, 175, 182], horizon: 7, minHistoryDays: 14 });

    // Act
    const conformal = conformalOffsets(calibration, predictScaled(model, calibration));
    const calibrated = withConformal(model, conformal);
    const before = forecastMetrics(pointsOf(test, predictUnits(model, test)));
    const after = forecastMetrics(pointsOf(test, predictUnits(calibrated, test)));

    // Assess: coverage on the later days is within 5 points of 80 %; the median is untouched.
    console.log(`synthetic coverage80: raw quantiles ${before.coverage80.toFixed(3)}, conformal ${after.coverage80.toFixed(3)} on ${after.count} item-days`);
    expect(after.coverage80).toBeGreaterThan(0.75);
    expect(after.coverage80).toBeLessThan(0.85);
    expect(after.WAPE).toBe(before.WAPE);
    expect(conformal.rows[0]).toBe(calibration.n);
  });

  it('learns the weekly pattern: the global model beats the 28-day median on held-out days', () => {
    const set = syntheticShop(40, 150, 9);
    const train = buildRows(set, calendar, { origins: Array.from({ length: 100 }, (_, k) => 14 + k), horizon: 14, minHistoryDays: 14, targetsBefore: 122 });
    const test = buildRows(set, calendar, { origins: [122, 136], horizon: 14, minHistoryDays: 14 });
    const model = fitQuantileModel(train);
    const global = forecastMetrics(pointsOf(test, predictUnits(model, test)));
    const medianIndex = 2;
    const median = forecastMetrics(
      pointsOf(
        test,
        Float64Array.from(
          { length: test.n * 3 },
          (_, k) => (test.x[Math.floor(k / 3) * N_FEATURES + medianIndex] as number) * (test.scale[Math.floor(k / 3)] as number),
        ),
      ),
    );
    expect(global.WAPE).toBeLessThan(0.9 * median.WAPE);
  });

  it('serves the same quantiles through onnxruntime as the TypeScript model (float32 vs float64)', async () => {
    // Prepare
    const set = syntheticShop(30, 120, 5);
    const train = buildRows(set, calendar, { origins: Array.from({ length: 60 }, (_, k) => 14 + k), horizon: 28, minHistoryDays: 14, targetsBefore: 92 });
    const model = withConformal(fitQuantileModel(train, { epochs: 2 }), { lower: [-0.3, -0.4, -0.5, -0.5], upper: [0.4, 0.5, 0.6, 0.6], rows: [1, 1, 1, 1] });
    const rows = buildRows(set, calendar, { origins: [92], horizon: 28, minHistoryDays: 14 });
    const session = await ort.InferenceSession.create(exportOnnx(model));

    // Act
    const out = await session.run({
      features: new ort.Tensor('float32', rows.x, [rows.n, N_FEATURES]),
      scale: new ort.Tensor('float32', rows.scale, [rows.n, 1]),
    });
    await session.release();

    // Assess
    const onnx = out.quantiles?.data as Float32Array;
    const ts = predictUnits(model, rows);
    expect(out.quantiles?.dims).toEqual([rows.n, 3]);
    let maxDelta = 0;
    for (let k = 0; k < ts.length; k++) maxDelta = Math.max(maxDelta, Math.abs((onnx[k] as number) - (ts[k] as number)));
    console.log(`demand ONNX parity: max |Δ| ${maxDelta.toExponential(2)} units over ${rows.n} rows × 3 quantiles`);
    expect(maxDelta).toBeLessThan(1e-3);
  });
});
