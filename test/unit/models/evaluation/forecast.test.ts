import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { runForecastEvaluation } from '../../../../models/evaluation/forecast';
import { loadOnlineRetailDaily } from '../../../../models/evaluation/forecast-data';
import { forecastMetrics, naiveScale } from '../../../../models/demand/metrics';
import { main } from '../../../../shared/cli/evaluate';

type ForecastReport = Awaited<ReturnType<typeof runForecastEvaluation>>;

const fixture = resolve(import.meta.dirname, '../../../fixtures/eval/daily.csv');
const dir = mkdtempSync(join(tmpdir(), 'forecast-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function runCli(argv: string[]): Promise<{ stdout: string; json: ForecastReport }> {
  const out: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    out.push(String(chunk));
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const json = (await main(argv)) as ForecastReport;
    return { stdout: out.join(''), json };
  } finally {
    write.mockRestore();
    err.mockRestore();
  }
}

describe('forecast metrics', () => {
  it('computes WAPE, bias, wQL and coverage by hand', () => {
    const m = forecastMetrics(
      [
        { series: 0, y: 4, q10: 1, q50: 3, q90: 5 },
        { series: 0, y: 0, q10: 0, q50: 1, q90: 2 },
        { series: 1, y: 6, q10: 1, q50: 6, q90: 5 },
      ],
      [2, 0],
    );
    expect(m.WAPE).toBeCloseTo(2 / 10, 12); // |4−3| + |0−1| + 0
    expect(m.bias).toBeCloseTo(0, 12); // −1 + 1 + 0
    expect(m.coverage80).toBeCloseTo(2 / 3, 12); // 6 > 5 is outside
    expect(m.wQL90).toBeCloseTo((2 * (0.1 * 1 + 0.1 * 2 + 0.9 * 1)) / 10, 12); // over-forecasts cost 0.1 a unit, under-forecasts 0.9
    expect(m.MASE).toBeCloseTo(1 / 2, 12); // series 0: MAE 1, scale 2; series 1 has no scale
    expect(naiveScale([1, 1, 1, 1, 1, 1, 1, 3, 1], 0, 9)).toBe(1); // |3−1| and |1−1| over 2 days
  });
});

describe('npm run evaluate -- forecast', () => {
  it('holds out the last days of a daily CSV, prints a table and ONE JSON line last, skipping bad rows with counts', async () => {
    const { stdout, json } = await runCli(['forecast', '--format', 'daily', '--data', fixture, '--horizon', '14', '--top', '3', '--epochs', '2']);
    const lines = stdout.trim().split('\n');
    expect(JSON.parse(lines.at(-1) as string)).toEqual(json);
    expect(lines[1]).toMatch(/^model\s+WAPE\s+MASE\s+bias\s+wQL50\s+wQL90\s+cov80/);
    expect(json.items).toBe(3);
    expect(json.heldOut).toEqual({ from: '2025-11-10', to: '2025-11-23', days: 14 });
    expect(json.skippedRows).toEqual({ 'negative units (returns are not demand)': 1, 'bad date': 1, 'missing item_id': 1, 'non-numeric units': 1 });
    expect(Object.keys(json.baselines)).toEqual(['seasonal_naive_7', 'mean_28', 'median_28', 'ses', 'croston', 'sba', 'tsb']);
    for (const result of [...Object.values(json.baselines), ...Object.values(json.models)]) {
      expect(Object.keys(result)).toEqual(
        expect.arrayContaining(['wape', 'mase', 'bias', 'wql50', 'wql90', 'coverage80', 'trainingSeconds', 'forecastingSeconds']),
      );
      expect(result.wape).toBeGreaterThan(0);
    }
    expect(json.models.selected?.name).toBe(json.selection.chosen);
  }, 60_000);

  it('maps Online Retail invoices to daily units: cancellations, non-product codes and returns skipped and counted', () => {
    const csv = [
      'Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country',
      '1,A1,"MUG, RED",2,2010-01-04 09:00:00,2.5,1,United Kingdom',
      '1,A1,"MUG, RED",3,2010-01-04 17:00:00,1.5,1,United Kingdom',
      '1,POST,POSTAGE,1,2010-01-04 09:00:00,18,1,France',
      'C2,A1,"MUG, RED",-2,2010-01-05 09:00:00,2.5,1,United Kingdom',
      '3,A1,damaged,-7,2010-01-06 09:00:00,0,,United Kingdom',
      '4,B2,BAG,1,2010-01-07 10:00:00,4,2,United Kingdom',
    ].join('\n');
    const path = join(dir, 'retail.csv.gz');
    writeFileSync(path, gzipSync(csv));
    const loaded = loadOnlineRetailDaily(path);
    expect(loaded.set.days).toEqual(['2010-01-04', '2010-01-05', '2010-01-06', '2010-01-07']);
    const a1 = loaded.set.series.find((s) => s.item === 'A1')!;
    expect([...a1.units]).toEqual([5, 0, 0, 0]);
    expect(a1.price[0]).toBeCloseTo((2 * 2.5 + 3 * 1.5) / 5, 12);
    expect(loaded.skipped).toEqual({
      'non-product codes (POST, DOT, M, BANK CHARGES, …)': 1,
      'cancellation rows (invoice C…)': 1,
      'non-positive quantities on sale invoices': 1,
    });
  });

  it('refuses bad input with a clear error: unknown format, horizon longer than the history', async () => {
    await expect(runCli(['forecast', '--format', 'parquet', '--data', fixture])).rejects.toThrow(/--format must be one of online-retail, daily/);
    await expect(runCli(['forecast', '--format', 'daily', '--data', fixture, '--horizon', '40'])).rejects.toThrow(
      /--horizon 40 is too long for 84 days of history/,
    );
    await expect(runCli(['forecast', '--format', 'daily', '--data', join(dir, 'missing.csv')])).rejects.toThrow(/no such file/);
    const wrong = join(dir, 'wrong.csv');
    writeFileSync(wrong, 'day,sku,qty\n2025-01-01,a,1\n');
    await expect(runCli(['forecast', '--format', 'daily', '--data', wrong])).rejects.toThrow(/header date,item_id,units/);
  });
});
