import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { type ImportReport, streamMessages } from '../../shared/capture/import';
import { onlineRetailMapping, parseInvoiceDate } from '../../shared/capture/mappings/online-retail-ii';
import type { MappedMessage } from '../../shared/capture/mappings/types';
import { MAX_EVENT_BYTES } from '../../shared/capture/schema';
import { validateMessages } from '../../shared/capture/service';

const dataFile = resolve(import.meta.dirname, '../../../shared/data/online-retail-ii-2009-2010.csv.gz');
const fixture = resolve(import.meta.dirname, '../fixtures/import/online-retail-small.csv');

const emptyReport = (): Pick<ImportReport, 'lines' | 'messages' | 'rejected' | 'errors' | 'errorsTruncated'> => ({
  lines: 0,
  messages: 0,
  rejected: 0,
  errors: [],
  errorsTruncated: false,
});

describe('Online Retail II mapping', () => {
  it('parses both date forms of the data set and refuses impossible dates', () => {
    // Act / Assess
    expect(parseInvoiceDate('2009-12-01 07:45:00', 0)).toBe(Date.parse('2009-12-01T07:45:00Z'));
    expect(parseInvoiceDate('12/1/2009 7:45', 0)).toBe(Date.parse('2009-12-01T07:45:00Z'));
    expect(parseInvoiceDate('2010-06-01 12:00', 60)).toBe(Date.parse('2010-06-01T11:00:00Z'));
    expect(parseInvoiceDate('2009-02-30 10:00:00', 0)).toBeUndefined();
  });

  it('groups the rows of an invoice (even when interleaved), splits cancellations into refunds, and names guests per invoice', async () => {
    // Prepare
    const batches: MappedMessage[][] = [];
    const report = emptyReport();

    // Act
    await streamMessages(Readable.from(readFileSync(fixture)), 'csv', onlineRetailMapping(), report, async (batch) => void batches.push(batch), 3);

    // Assess
    const messages = batches.flat();
    expect(batches.map((b) => b.length)).toEqual([3, 3, 1]);
    expect(messages.map((m) => [m.message.event, (m.message.properties as { order_id: string }).order_id, m.lines])).toEqual([
      ['Order Completed', '489434', [2, 3, 4]],
      ['Order Completed', '489435', [5, 6]],
      ['Order Completed', '489436', [7, 9]],
      ['Order Completed', '489437', [8, 10]],
      ['Order Completed', '489438', [11]],
      ['Order Refunded', 'C489449', [14, 15]],
      ['Order Completed', '489441', [18]],
    ]);
    const guest = messages[3]?.message as { anonymousId: string; properties: { total: number; products: unknown[] }; messageId: string };
    expect(guest.anonymousId).toBe('guest-online-retail-ii-489437');
    expect(guest.properties.products).toHaveLength(1); // POSTAGE is a fee, not a product
    expect(guest.properties.total).toBe(30.6);
    expect(guest.messageId).toBe('online-retail-ii-489437-L8');
    const refund = messages[5]?.message.properties as { products: { quantity: number }[] };
    expect(refund.products.map((p) => p.quantity)).toEqual([12, 6]);
    expect(report.errors.map((e) => e.line)).toEqual([12, 13, 16, 17]);
  });

  it.skipIf(!existsSync(dataFile))('streams all 525,461 rows of the real file in bounded memory, every message valid for capture', async () => {
    // Prepare
    const report = emptyReport();
    let valid = 0;
    let largest = 0;
    let peakRss = process.memoryUsage().rss;
    const startRss = peakRss;
    const started = performance.now();

    // Act
    await streamMessages(createReadStream(dataFile).pipe(createGunzip()), 'csv', onlineRetailMapping(), report, async (batch) => {
      const checked = validateMessages(
        batch.map((m) => m.message),
        new Date('2011-01-01T00:00:00Z'),
      );
      valid += checked.valid.length;
      for (const m of batch) largest = Math.max(largest, Buffer.byteLength(JSON.stringify(m.message)));
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    });
    const seconds = (performance.now() - started) / 1000;

    // Assess
    console.log(
      `online-retail-ii: ${report.lines} rows in ${seconds.toFixed(1)} s = ${Math.round(report.lines / seconds)} rows/s, ${report.messages} messages, peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB (+${((peakRss - startRss) / 2 ** 20).toFixed(0)} MiB)`,
    );
    expect(report.lines).toBe(525_461);
    expect(report.messages).toBe(27_111);
    expect(valid).toBe(report.messages);
    expect(report.rejected).toBe(2_124); // 2,121 stock adjustments (negative sale quantity) + 3 bad-debt adjustments
    expect(largest).toBeLessThan(MAX_EVENT_BYTES);
    expect(peakRss - startRss).toBeLessThan(256 * 2 ** 20);
  });
});

if (!existsSync(dataFile)) console.warn(`skipping the real-file import test: ${dataFile} is absent (../shared/data is not checked out)`);
