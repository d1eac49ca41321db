/**
 * The splitter of large bulk imports (shared/capture/import-split.ts): parts end on record boundaries
 * (quoted newlines included), repeat the CSV header, carry the line offset of the original, keep the
 * rows of one invoice together, and are byte-for-byte deterministic. The strongest check: importing the
 * parts one by one (streamMessages with their line offsets) gives exactly the messages and row errors
 * of a single pass over the original.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip, gunzipSync, gzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ImportFormat, type ImportReport, streamMessages } from '../../../../shared/capture/import';
import { MAX_RECORD_BYTES, ndjsonLines, type SplitOptions, type SplitPart, splitStream } from '../../../../shared/capture/import-split';
import { onlineRetailMapping } from '../../../../shared/capture/mappings/online-retail-ii';
import type { MappedMessage, SourceMapping } from '../../../../shared/capture/mappings/types';

const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : process.env.CI ? 20261128 : undefined;
if (seed !== undefined) fc.configureGlobal({ seed });

const fixture = readFileSync(resolve(import.meta.dirname, '../../../fixtures/import/online-retail-small.csv'));
const HEADER = 'Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n';
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const parseWithInfo = (input: string | Buffer) =>
  parse(input, { info: true, bom: true, skip_empty_lines: true, relax_column_count: true }) as unknown as { record: string[]; info: { lines: number } }[];

/** A stream of `bytes` in chunks of `size` (chunk boundaries must not change anything). */
const chunked = (bytes: Buffer, size: number) =>
  Readable.from(Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size)));

async function split(input: Buffer | Readable, options: Omit<SplitOptions, 'onPart'>, chunk = 4096) {
  const parts: SplitPart[] = [];
  const summary = await splitStream(Buffer.isBuffer(input) ? chunked(input, chunk) : input, {
    ...options,
    onPart: async (part) => {
      parts.push(part);
    },
  });
  return { summary, parts, texts: parts.map((p) => gunzipSync(p.body).toString('utf8')) };
}

/** Online Retail rows: `invoices` invoices of 1–6 lines, every 9th row invalid, one description with a quoted newline. */
function invoicesCsv(invoices: number, options: { interleave?: boolean } = {}): Buffer {
  const rows: string[] = [HEADER];
  let row = 0;
  for (let i = 0; i < invoices; i++) {
    const invoice = 500000 + i;
    const customer = i % 5 === 0 ? '' : String(13000 + (i % 37));
    const lines = 1 + (i % 6);
    for (let l = 0; l < lines; l++) {
      row += 1;
      const quantity = row % 9 === 0 ? 'x' : String(1 + (l % 4));
      const description = l === 1 ? `"MUG ""BIG""\nLINE ${l}"` : `ITEM ${l}`;
      rows.push(`${invoice},${20000 + l},${description},${quantity},2010-03-0${1 + (i % 9)} 10:00:00,1.25,${customer},United Kingdom\n`);
      // The next invoice's first row between two rows of this one (rows of an invoice are not always contiguous).
      if (options.interleave && l === 0 && lines > 2 && i + 1 < invoices) {
        rows.push(
          `${invoice + 1},21000,INTERLEAVED,2,2010-03-0${1 + ((i + 1) % 9)} 10:00:00,2.5,${(i + 1) % 5 === 0 ? '' : String(13000 + ((i + 1) % 37))},United Kingdom\n`,
        );
      }
    }
  }
  return Buffer.from(rows.join(''));
}

async function singlePass(bytes: Buffer, format: ImportFormat, mapping: SourceMapping | undefined) {
  const report = { lines: 0, messages: 0, rejected: 0, errors: [], errorsTruncated: false } as Pick<
    ImportReport,
    'lines' | 'messages' | 'rejected' | 'errors' | 'errorsTruncated'
  >;
  const messages: MappedMessage[] = [];
  await streamMessages(Readable.from([bytes]), format, mapping, report, async (batch) => void messages.push(...batch));
  return { report, messages };
}

/** Every part imported on its own, line numbers shifted back to the original's. */
async function partsPass(parts: SplitPart[], format: ImportFormat, mapping: SourceMapping | undefined) {
  const report = { lines: 0, messages: 0, rejected: 0, errors: [], errorsTruncated: false } as Pick<
    ImportReport,
    'lines' | 'messages' | 'rejected' | 'errors' | 'errorsTruncated'
  >;
  const messages: MappedMessage[] = [];
  for (const part of parts) {
    await streamMessages(Readable.from([part.body]).pipe(createGunzip()), format, mapping, report, async (batch) => void messages.push(...batch), {
      lineOffset: part.lineOffset,
    });
  }
  return { report, messages };
}

describe('splitStream (CSV)', () => {
  it('cuts at record boundaries, repeats the header, and never splits a quoted newline', async () => {
    // Prepare
    const csv = Buffer.from(
      `${HEADER}1,A,"two\nlines",1,2010-01-01 10:00:00,1,1,UK\n2,B,plain,1,2010-01-01 10:00:00,1,1,UK\n3,C,"three\nlines\nhere",1,2010-01-01 10:00:00,1,1,UK\n4,D,"a ""quote""",1,2010-01-01 10:00:00,1,1,UK\n`,
    );

    // Act
    const { summary, parts, texts } = await split(csv, { format: 'csv', partBytes: 90 }, 7);

    // Assess
    expect(parts.length).toBe(4);
    for (const text of texts) expect(text.startsWith(HEADER)).toBe(true);
    expect(texts.map((t) => t.slice(HEADER.length)).join('')).toBe(csv.toString('utf8').slice(HEADER.length));
    for (const text of texts) expect(parse(text, { columns: true }).length).toBe(1);
    expect(parts.map((p) => [p.firstLine, p.lineOffset, p.records])).toEqual([
      [2, 0, 1],
      [4, 2, 1],
      [5, 3, 1],
      [8, 6, 1],
    ]);
    expect(summary).toMatchObject({ records: 4, parts: 4, forcedCuts: 0, bytes: csv.length, sha256: sha256(csv), errors: [] });
    expect(parts.map((p) => p.sha256)).toEqual(texts.map((t) => sha256(Buffer.from(t))));
  });

  it('gives the same messages, message ids and row errors (original line numbers) as a single pass', async () => {
    // Prepare
    const csv = invoicesCsv(400, { interleave: true });
    const mapping = onlineRetailMapping({ windowRows: 5 });
    const whole = await singlePass(csv, 'csv', mapping);

    // Act
    const { parts, summary } = await split(csv, { format: 'csv', partBytes: 4000, rule: mapping.split, overflow: 1 }, 1000);
    const inParts = await partsPass(parts, 'csv', mapping);

    // Assess
    expect(parts.length).toBeGreaterThan(10);
    expect(summary.forcedCuts).toBe(0);
    expect(inParts.messages).toEqual(whole.messages);
    expect(inParts.report).toEqual(whole.report);
    expect(whole.report.errors.length).toBeGreaterThan(20);
  });

  it('builds every message from rows of one part (a cut waits until the groups open at it have closed)', async () => {
    // Prepare
    const csv = invoicesCsv(300, { interleave: true });
    const mapping = onlineRetailMapping({ windowRows: 4 });
    const whole = await singlePass(csv, 'csv', mapping);

    // Act
    const { parts, summary } = await split(csv, { format: 'csv', partBytes: 2500, rule: mapping.split, overflow: 1 });

    // Assess
    const partOf = (line: number) => parts.findLastIndex((p) => p.firstLine <= line);
    const straddling = whole.messages.filter((m) => new Set(m.lines.map(partOf)).size > 1);
    expect(parts.length).toBeGreaterThan(5);
    expect(summary.forcedCuts).toBe(0);
    expect(whole.messages.some((m) => m.lines.length > 1)).toBe(true);
    expect(straddling).toEqual([]);
  });

  it('counts a forced cut when one group never lets the part end before its size limit', async () => {
    // Prepare: one invoice interleaved with every other row, so no cut is ever clean.
    const rows = [HEADER];
    for (let i = 0; i < 400; i++) rows.push(`${i % 2 === 0 ? 700000 : 700001 + i},1,X,1,2010-01-01 10:00:00,1,1,UK\n`);
    const mapping = onlineRetailMapping({ windowRows: 10 });

    // Act
    const { summary, parts } = await split(Buffer.from(rows.join('')), { format: 'csv', partBytes: 2000, rule: mapping.split, overflow: 0.5 });

    // Assess
    expect(summary.forcedCuts).toBeGreaterThan(0);
    expect(parts.filter((p) => p.forced).length).toBe(summary.forcedCuts);
    for (const part of parts.slice(0, -1)) expect(part.bytes).toBeLessThanOrEqual(3000 + 64);
  });

  it('refuses a header without the mapping’s columns before writing any part', async () => {
    // Act
    const { summary, parts } = await split(Buffer.from('Invoice,StockCode\n1,2\n'), {
      format: 'csv',
      partBytes: 1,
      header: { required: ['Invoice', 'Price'], mapping: 'online-retail-ii' },
    });

    // Assess
    expect(parts).toEqual([]);
    expect(summary.headerIssue).toEqual({ field: '(header)', reason: 'is missing column(s) Price required by the "online-retail-ii" mapping' });
  });

  it('keeps blank lines and a malformed last record with the last part, so its import reports them', async () => {
    // Prepare
    const csv = Buffer.from(`${HEADER}1,A,x,1,2010-01-01 10:00:00,1,1,UK\n\n2,B,"bad"quote,1,2010-01-01 10:00:00,1,1,UK\n3,C,"open`);
    const mapping = onlineRetailMapping();

    // Act
    const { parts, texts } = await split(csv, { format: 'csv', partBytes: 10 });
    const whole = await singlePass(csv, 'csv', mapping);
    const inParts = await partsPass(parts, 'csv', mapping);

    // Assess
    expect(texts.map((t) => t.slice(HEADER.length)).join('')).toBe(csv.toString('utf8').slice(HEADER.length));
    expect(inParts.report.errors).toEqual(whole.report.errors);
    expect(whole.report.errors.map((e) => e.line)).toEqual([4, 5, 5]);
  });

  it('stops at a record longer than the limit (an unclosed quote) and says from which line', async () => {
    // Prepare
    const csv = Buffer.concat([Buffer.from(`${HEADER}1,A,x,1,2010-01-01 10:00:00,1,1,UK\n2,B,"never closed `), Buffer.alloc(MAX_RECORD_BYTES + 10, 'a')]);

    // Act
    const { summary, parts } = await split(csv, { format: 'csv', partBytes: 1 << 20 }, 65536);

    // Assess
    expect(parts.map((p) => p.records)).toEqual([1]);
    expect(summary.errors).toEqual([{ line: 3, issues: [{ field: '(file)', reason: expect.stringContaining('the file was not read from this line on') }] }]);
    expect(summary.sha256).toBe(sha256(csv));
  });

  it('is deterministic: same parts and bytes whatever the input chunking, gzipped input included', async () => {
    // Prepare
    const csv = invoicesCsv(200);
    const rule = onlineRetailMapping({ windowRows: 3 }).split;

    // Act
    const a = await split(csv, { format: 'csv', partBytes: 3000, rule }, 17);
    const b = await split(csv, { format: 'csv', partBytes: 3000, rule }, 65536);
    const c = await split(chunked(gzipSync(csv), 100).pipe(createGunzip()), { format: 'csv', partBytes: 3000, rule });

    // Assess
    const bodies = (r: typeof a) => r.parts.map((p) => sha256(p.body));
    expect(a.parts.length).toBeGreaterThan(5);
    expect(bodies(b)).toEqual(bodies(a));
    expect(bodies(c)).toEqual(bodies(a));
    expect(c.summary.sha256).toBe(sha256(csv));
    for (const part of a.parts) expect(part.body.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
  });

  it('holds for any CSV: records intact, order kept, offsets right (property)', async () => {
    const field = fc.oneof(
      fc.stringMatching(/^[a-z0-9 ]{0,8}$/),
      fc.string({ maxLength: 10, unit: fc.constantFrom('a', ',', '"', '\n', '\r\n', ' ', 'é') }).map((s) => `"${s.replace(/"/g, '""')}"`),
    );
    const row = fc.array(field, { minLength: 3, maxLength: 3 }).map((f) => f.join(','));
    await fc.assert(
      fc.asyncProperty(
        fc.array(row, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 64 }),
        async (rows, partBytes, chunk) => {
          const csv = Buffer.from(`a,b,c\n${rows.join('\n')}\n`);
          const original = parseWithInfo(csv);
          const { parts, texts } = await split(csv, { format: 'csv', partBytes }, chunk);
          const again = parts.flatMap((p, i) =>
            parseWithInfo(texts[i] as string)
              .slice(1)
              .map((r) => ({ record: r.record, line: r.info.lines + p.lineOffset })),
          );
          expect(again).toEqual(original.slice(1).map((r) => ({ record: r.record, line: r.info.lines })));
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('splitStream (NDJSON)', () => {
  const lines = Array.from({ length: 50 }, (_, i) => JSON.stringify({ type: 'track', event: 'Product Viewed', messageId: `m-${i}`, userId: `u${i % 7}` }));

  it('cuts between lines, with the line offset of each part and CRLF kept', async () => {
    // Prepare
    const ndjson = Buffer.from(`${lines.slice(0, 25).join('\n')}\r\n\n${lines.slice(25).join('\n')}`);

    // Act
    const { summary, parts, texts } = await split(ndjson, { format: 'ndjson', partBytes: 400 }, 33);

    // Assess
    expect(texts.join('')).toBe(ndjson.toString('utf8'));
    expect(parts.length).toBeGreaterThan(3);
    let before = 0;
    for (const [i, part] of parts.entries()) {
      expect([part.lineOffset, part.firstLine]).toEqual([before, before + 1]);
      if (i < parts.length - 1) expect(texts[i]?.endsWith('\n')).toBe(true);
      before += (texts[i]?.match(/\n/g) ?? []).length;
    }
    expect(summary.records).toBe(51);
    expect(summary.sha256).toBe(sha256(ndjson));
  });

  it('gives the same messages and errors as a single pass, with a too-long line reported by the split', async () => {
    // Prepare
    const ndjson = Buffer.from([...lines.slice(0, 10), '{broken', `{"pad":"${'x'.repeat(MAX_RECORD_BYTES)}"}`, ...lines.slice(10)].join('\n'));
    const whole = await singlePass(ndjson, 'ndjson', undefined);

    // Act
    const { parts, summary } = await split(ndjson, { format: 'ndjson', partBytes: 300 }, 4096);
    const inParts = await partsPass(parts, 'ndjson', undefined);

    // Assess
    expect(summary.errors).toEqual([{ line: 12, issues: [{ field: '(line)', reason: `is longer than ${MAX_RECORD_BYTES} bytes: not imported` }] }]);
    expect(whole.report.errors.map((e) => e.line)).toEqual([11, 12]);
    expect(inParts.report.errors.map((e) => e.line)).toEqual([11]);
    expect(inParts.messages).toEqual(whole.messages);
    expect(inParts.report.lines).toBe(whole.report.lines);
  });
});

describe('ndjsonLines', () => {
  it('splits on \\n only, keeps each line’s bytes, and drops over-long lines as they come', async () => {
    // Prepare
    const text = Buffer.concat([Buffer.from('a\r\nb\rc\n\n'), Buffer.alloc(MAX_RECORD_BYTES + 5, 'x'), Buffer.from('\nlast')]);

    // Act
    const out: { number: number; text: string; tooLong: boolean }[] = [];
    for await (const line of ndjsonLines(chunked(text, 1000))) out.push({ number: line.number, text: line.bytes.toString('utf8'), tooLong: line.tooLong });

    // Assess
    expect(out).toEqual([
      { number: 1, text: 'a\r\n', tooLong: false },
      { number: 2, text: 'b\rc\n', tooLong: false },
      { number: 3, text: '\n', tooLong: false },
      { number: 4, text: '', tooLong: true },
      { number: 5, text: 'last', tooLong: false },
    ]);
  });
});

describe('the Online Retail fixture', () => {
  it('imports the same in one part per 200 bytes as in a single pass', async () => {
    // Prepare
    const mapping = onlineRetailMapping({ windowRows: 3 });
    const whole = await singlePass(fixture, 'csv', mapping);

    // Act
    const { parts } = await split(fixture, { format: 'csv', partBytes: 200, rule: mapping.split, overflow: 3 });
    const inParts = await partsPass(parts, 'csv', mapping);

    // Assess
    expect(parts.length).toBeGreaterThan(1);
    expect(inParts.messages.map((m) => m.message.messageId)).toEqual(whole.messages.map((m) => m.message.messageId));
    expect(inParts.report).toEqual(whole.report);
  });
});
