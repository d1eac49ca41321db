import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImportReport } from '../../shared/capture/import';
import { type LocalStack, startLocalStack } from '../../shared/local';
import type { Profile } from '../../shared/profiles/profile';

const projectRoot = resolve(import.meta.dirname, '../..');
const fixture = readFileSync(resolve(import.meta.dirname, '../fixtures/import/online-retail-small.csv'));

describe('bulk CSV import by S3 upload on the embedded local stack', () => {
  let stack: LocalStack;
  let dataDir: string;
  let bucket: string;

  const upload = async (key: string, body: Uint8Array) => {
    await stack.emulators.s3Client().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    await stack.s3Events.waitForIdle();
  };
  const report = async (key: string) => {
    const out = await stack.emulators.s3Client().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return JSON.parse(await (out.Body as { transformToString(): Promise<string> }).transformToString()) as ImportReport;
  };
  const profileOf = async (identifier: string) => {
    const response = await fetch(`${stack.url}/v1/profiles?identifier=${encodeURIComponent(identifier)}`);
    return response.status === 200 ? ((await response.json()) as { profile: Profile }).profile : undefined;
  };

  beforeAll(async () => {
    process.env.LOG_LEVEL = 'ERROR';
    process.env.METRICS_DISABLED = 'true';
    dataDir = mkdtempSync(join(tmpdir(), 'import-csv-'));
    stack = await startLocalStack({ projectRoot, dataDir, port: 0, stage: 'imports', quiet: true });
    bucket = stack.config.buckets[0]?.name as string;
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('maps Online Retail II invoices to orders, refunds and guests, with a row-level error report beside the file', async () => {
    // Act
    await upload('imports/events/online-retail-ii/2009-12-01.csv', fixture);

    // Assess
    expect(stack.s3Events.errors).toEqual([]);
    const r = await report('import-reports/events/online-retail-ii/2009-12-01.csv.report.json');
    expect(r).toMatchObject({
      source: 'online-retail-ii',
      format: 'csv',
      mapping: 'online-retail-ii',
      lines: 17,
      messages: 7,
      accepted: 7,
      duplicates: 0,
      rejected: 4,
    });
    expect(r.errors).toEqual([
      { line: 12, issues: [{ field: 'Quantity', reason: 'is negative on a sale invoice (a stock adjustment, not a shopper event)' }] },
      { line: 13, issues: [{ field: 'Quantity', reason: 'must be a non-zero integer' }] },
      { line: 16, issues: [{ field: 'InvoiceDate', reason: 'must be a date-time like 2009-12-01 07:45:00' }] },
      {
        line: 17,
        issues: [
          { field: 'Invoice', reason: 'is an accounting adjustment (A…), not a shopper transaction' },
          { field: 'Price', reason: 'must be a number ≥ 0' },
        ],
      },
    ]);
    const regular = await profileOf('userId:13085');
    expect(regular?.counts).toEqual({ purchase: 2, refund: 1 });
    expect(regular?.purchased).toEqual(['22041', '22349', '22350', '79323P', '85048']);
    expect(regular?.totalRevenue).toBeCloseTo(12 * 6.95 + 12 * 6.75 + 48 * 2.1 + 12 * 2.55 + 12 * 3.75, 6);
    const interleaved = await profileOf('userId:13078');
    expect(interleaved?.counts).toEqual({ purchase: 2 });
    expect(interleaved?.purchased).toEqual(['21755', '48173C', '84879']);
    const guest = await profileOf('anonymousId:guest-online-retail-ii-489437');
    expect(guest?.purchased).toEqual(['22143']);
    expect(guest?.totalRevenue).toBeCloseTo(6 * 2.1 + 18, 6);
    expect(guest?.channels).toEqual({ web: { events: 1, lastSeen: '2009-12-01T09:08:00.000Z' } });
  });

  it('imports the same file once, whatever its name or how often it is uploaded', async () => {
    // Prepare
    const before = await profileOf('userId:13085');

    // Act
    await upload('imports/events/online-retail-ii/2009-12-01.csv', fixture);
    await upload('imports/events/online-retail-ii/copy-of-2009-12-01.csv', fixture);

    // Assess
    expect(stack.s3Events.errors).toEqual([]);
    expect(await report('import-reports/events/online-retail-ii/2009-12-01.csv.report.json')).toMatchObject({ accepted: 7, rejected: 4 });
    expect(await report('import-reports/events/online-retail-ii/copy-of-2009-12-01.csv.report.json')).toMatchObject({
      skipped: 'duplicate',
      duplicateOf: 'imports/events/online-retail-ii/2009-12-01.csv',
      accepted: 0,
    });
    expect((await profileOf('userId:13085'))?.counts).toEqual(before?.counts);
  });

  it('imports a gzipped CSV, and refuses a CSV without a mapping or with missing columns, saying why', async () => {
    // Prepare
    const extra = Buffer.from(
      'Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n490001,22111,SCOTTIE DOG HOT WATER BOTTLE,3,2009-12-02 10:00:00,4.95,14000,United Kingdom\n',
    );

    // Act
    await upload('imports/events/online-retail-ii-pos/tills.csv.gz', gzipSync(extra));
    await upload('imports/events/unknown-source/file.csv', extra);
    await upload('imports/events/online-retail-ii/broken.csv', Buffer.from('Invoice,StockCode,Quantity\n1,2,3\n'));

    // Assess
    expect(await report('import-reports/events/online-retail-ii-pos/tills.csv.gz.report.json')).toMatchObject({ accepted: 1, rejected: 0 });
    expect((await profileOf('userId:14000'))?.channels.pos?.events).toBe(1);
    expect((await report('import-reports/events/unknown-source/file.csv.report.json')).errors[0]?.issues[0]).toEqual({
      field: 'key',
      reason: expect.stringContaining('no mapping for "unknown-source"'),
    });
    expect((await report('import-reports/events/online-retail-ii/broken.csv.report.json')).errors[0]).toEqual({
      line: 1,
      issues: [
        { field: '(header)', reason: 'is missing column(s) Description, InvoiceDate, Price, Customer ID, Country required by the "online-retail-ii" mapping' },
      ],
    });
  });
});
