/**
 * Large bulk imports on the embedded local stack (dynalite + s3rver, the S3 triggers of serverless.yml):
 * with IMPORT_PART_BYTES at 20 KB, an upload under imports/events/online-retail-ii/ is split into parts
 * under imports/parts/, every part is imported by its own invocation, and the last one writes the summary
 * beside the original — with the same messages, counts and row errors (original line numbers) as a single
 * pass over the file. Re-uploads and re-delivered events import nothing new.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { CopyObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ImportReport, streamMessages } from '../../shared/capture/import';
import { onlineRetailMapping } from '../../shared/capture/mappings/online-retail-ii';
import type { MappedMessage } from '../../shared/capture/mappings/types';
import { buildS3Notification, type LocalStack, startLocalStack } from '../../shared/local';
import type { Profile } from '../../shared/profiles/profile';

const projectRoot = resolve(import.meta.dirname, '../..');
const PART_BYTES = 20_000;
const HEADER = 'Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n';

const customerOf = (i: number) => (i % 6 === 0 ? '' : String(17000 + (i % 23)));
const dayOf = (i: number) => `2011-02-${String(1 + (i % 27)).padStart(2, '0')}`;

/** Line `l` of invoice `i` (C… invoices are cancellations, every 13th row is invalid, line 2 has a quoted newline). */
function invoiceRow(i: number, l: number, row: number): string {
  const cancelled = i % 17 === 16;
  const invoice = `${cancelled ? 'C' : ''}${560000 + i}`;
  const quantity = row % 13 === 0 ? 'n/a' : String((cancelled ? -1 : 1) * (1 + (l % 5)));
  const description = l === 2 ? `"LANTERN ""GLASS""\nSET OF ${l}"` : `ITEM ${l} OF ${invoice}`;
  return `${invoice},${30000 + ((i * 7 + l) % 90)},${description},${quantity},${dayOf(i)} 09:${String(l * 7).padStart(2, '0')}:00,${(0.5 + l).toFixed(2)},${customerOf(i)},United Kingdom\n`;
}

/** ~110 KB of Online Retail rows: invoices of 1–7 lines, the next invoice's first row sometimes early (interleaved). */
function onlineRetailCsv(): Buffer {
  const rows = [HEADER];
  for (let i = 0; i < 280; i++) {
    const lines = 1 + (i % 7);
    for (let l = 0; l < lines; l++) {
      rows.push(invoiceRow(i, l, rows.length));
      if (l === 0 && lines > 3 && i + 1 < 280)
        rows.push(`${560000 + i + 1},31000,EARLY ROW,1,${dayOf(i + 1)} 10:00:00,3.00,${customerOf(i + 1)},United Kingdom\n`);
    }
  }
  return Buffer.from(rows.join(''));
}

describe('large bulk imports split into parts on the embedded local stack', () => {
  let stack: LocalStack;
  let dataDir: string;
  let bucket: string;
  const csv = onlineRetailCsv();
  const key = 'imports/events/online-retail-ii/2011-02.csv.gz';
  const reportKey = 'import-reports/events/online-retail-ii/2011-02.csv.gz.report.json';
  let truth: { messages: MappedMessage[]; report: Pick<ImportReport, 'lines' | 'messages' | 'rejected' | 'errors' | 'errorsTruncated'> };

  const s3 = () => stack.emulators.s3Client();
  const upload = async (objectKey: string, body: Uint8Array) => {
    await s3().send(new PutObjectCommand({ Bucket: bucket, Key: objectKey, Body: body }));
    await stack.s3Events.waitForIdle();
  };
  const json = async <T>(objectKey: string) => {
    const out = await s3().send(new GetObjectCommand({ Bucket: bucket, Key: objectKey }));
    return JSON.parse(await (out.Body as { transformToString(): Promise<string> }).transformToString()) as T;
  };
  const list = async (prefix: string) =>
    ((await s3().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))).Contents ?? []).map((o) => o.Key as string).sort();
  const profileOf = async (identifier: string) => {
    const response = await fetch(`${stack.url}/v1/profiles?identifier=${encodeURIComponent(identifier)}`);
    return response.status === 200 ? ((await response.json()) as { profile: Profile }).profile : undefined;
  };

  beforeAll(async () => {
    process.env.LOG_LEVEL = 'ERROR';
    process.env.METRICS_DISABLED = 'true';
    process.env.IMPORT_PART_BYTES = String(PART_BYTES);
    dataDir = mkdtempSync(join(tmpdir(), 'import-parts-'));
    stack = await startLocalStack({ projectRoot, dataDir, port: 0, stage: 'parts', quiet: true });
    bucket = stack.config.buckets[0]?.name as string;
    // The truth: one pass over the whole file, no split.
    const report = { lines: 0, messages: 0, rejected: 0, errors: [], errorsTruncated: false };
    const messages: MappedMessage[] = [];
    await streamMessages(Readable.from([csv]), 'csv', onlineRetailMapping(), report, async (batch) => void messages.push(...batch));
    truth = { messages, report };
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
    delete process.env.IMPORT_PART_BYTES;
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('splits the upload, imports every part, and writes the summary of the original', async () => {
    // Prepare
    expect(stack.config.functions.importEvents?.environment.IMPORT_PART_BYTES).toBe(String(PART_BYTES));

    // Act
    await upload(key, gzipSync(csv));

    // Assess
    expect(stack.s3Events.errors).toEqual([]);
    const summary = await json<ImportReport>(reportKey);
    const partKeys = await list('imports/parts/online-retail-ii/');
    expect(partKeys.length).toBe(summary.split?.parts);
    expect(partKeys.length).toBeGreaterThanOrEqual(Math.floor(csv.length / PART_BYTES));
    expect(partKeys.every((k) => k.startsWith(`imports/parts/online-retail-ii/${summary.contentSha256}/part-`) && k.endsWith('.csv.gz'))).toBe(true);
    expect(stack.s3Events.invocations.map((i) => [i.functionName, i.key])).toEqual(
      expect.arrayContaining([['importEvents', key], ...partKeys.map((k) => ['importEvents', k])]),
    );
    expect(await list('imports/staging/')).toEqual([]);
    expect(summary).toMatchObject({
      key,
      status: 'done',
      source: 'online-retail-ii',
      format: 'csv',
      mapping: 'online-retail-ii',
      lines: truth.report.lines,
      messages: truth.messages.length,
      accepted: truth.messages.length,
      duplicates: 0,
      rejected: truth.report.rejected,
      errorsTruncated: false,
      // 20 KB parts are shorter than the mapping's 2,000-row window: every cut is made before its groups close (forced).
      split: { parts: partKeys.length, partBytes: PART_BYTES, forcedCuts: partKeys.length - 1 },
    });
    expect(summary.errors).toEqual([...truth.report.errors].sort((a, b) => a.line - b.line));
    expect(summary.parts?.map((p) => p.part)).toEqual(partKeys.map((_, i) => i + 1));
    expect(summary.parts?.map((p) => p.firstLine)).toEqual([...(summary.parts?.map((p) => p.firstLine) ?? [])].sort((a, b) => a - b));
    const head = await s3().send(new HeadObjectCommand({ Bucket: bucket, Key: partKeys[1] as string }));
    expect(head.Metadata).toMatchObject({
      'original-key': encodeURIComponent(key),
      part: '2',
      parts: String(partKeys.length),
      'first-line': String(summary.parts?.[1]?.firstLine),
      'content-sha256': summary.contentSha256,
    });
    const partReport = await json<ImportReport>(summary.parts?.[1]?.reportKey as string);
    expect(partReport.errors.every((e) => e.line >= (summary.parts?.[1]?.firstLine as number))).toBe(true);
  });

  it('counts every order of a shopper once, as a single pass would', async () => {
    // Prepare
    const expected = new Map<string, { purchase: number; refund: number }>();
    for (const { message } of truth.messages) {
      const userId = message.userId as string | undefined;
      if (!userId) continue;
      const counts = expected.get(userId) ?? { purchase: 0, refund: 0 };
      if (message.event === 'Order Completed') counts.purchase += 1;
      else counts.refund += 1;
      expected.set(userId, counts);
    }

    // Act
    const shoppers = await Promise.all(['17001', '17005', '17022'].map((id) => profileOf(`userId:${id}`)));

    // Assess
    for (const [i, id] of ['17001', '17005', '17022'].entries()) {
      const want = expected.get(id) as { purchase: number; refund: number };
      expect(shoppers[i]?.counts, id).toEqual(Object.fromEntries(Object.entries(want).filter(([, n]) => n > 0)));
    }
  });

  it('imports nothing new on a re-upload, a copy under another name, or a re-delivered part event', async () => {
    // Prepare
    const before = await json<ImportReport>(reportKey);
    const shopper = await profileOf('userId:17005');
    const invocations = stack.s3Events.invocations.length;
    const partKey = (await list('imports/parts/online-retail-ii/'))[0] as string;

    // Act
    await upload(key, gzipSync(csv));
    await s3().send(new CopyObjectCommand({ Bucket: bucket, Key: 'imports/events/online-retail-ii/copy.csv.gz', CopySource: `${bucket}/${key}` }));
    await stack.s3Events.waitForIdle();
    const redelivered = (await stack.invoke(
      'importEvents',
      buildS3Notification({ bucket, key: partKey, eventName: 'ObjectCreated:Put', region: stack.config.region, configurationId: 'test' }),
    )) as {
      imports: ImportReport[];
    };

    // Assess
    expect(stack.s3Events.errors).toEqual([]);
    expect(stack.s3Events.invocations.slice(invocations).map((i) => i.key)).toEqual([key, 'imports/events/online-retail-ii/copy.csv.gz']);
    const after = await json<ImportReport>(reportKey);
    expect({ ...after, finishedAt: '' }).toEqual({ ...before, finishedAt: '' });
    expect(await json<ImportReport>('import-reports/events/online-retail-ii/copy.csv.gz.report.json')).toMatchObject({
      skipped: 'duplicate',
      duplicateOf: key,
      accepted: 0,
    });
    expect(redelivered.imports[0]).toMatchObject({ skipped: 'duplicate', duplicateOf: partKey, accepted: 0 });
    expect((await profileOf('userId:17005'))?.counts).toEqual(shopper?.counts);
    expect(await list('imports/staging/')).toEqual([]);
  });
});
