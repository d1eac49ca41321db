/**
 * The orchestration of split imports (shared/capture/import-parts.ts) with mocked S3 and DynamoDB:
 * settings fail fast, a part's metadata is checked before anything is imported, a large upload is
 * staged, claimed and handed over as parts carrying their metadata, a duplicate is not.
 */
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { ImportReport } from '../../../../shared/capture/import';
import { importObject, importSettings, type ObjectImportDeps, parsePartMetadata, partKey } from '../../../../shared/capture/import-parts';
import { ProfileRepository } from '../../../../shared/profiles/repository';
import { BlobStore } from '../../../../shared/storage/blob';

const s3Mock = mockClient(S3Client);
const ddbMock = mockClient(DynamoDBDocumentClient);
const BUCKET = 'data-bucket';
const SHA = 'a'.repeat(64);
const HEADER = 'Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n';

function deps(partBytes = 2000): ObjectImportDeps {
  const s3 = new S3Client({ region: 'eu-west-1' });
  const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
  return {
    blobs: new BlobStore(s3, BUCKET),
    profiles: new ProfileRepository(ddb, 'profiles'),
    partBytes,
    gzipRatio: 10,
  };
}

const csv = () => {
  const rows = [HEADER];
  for (let i = 0; i < 120; i++)
    rows.push(
      `${580000 + Math.floor(i / 3)},2${i % 10},ITEM,${1 + (i % 4)},2011-05-0${1 + (i % 9)} 11:00:00,1.95,${15000 + (Math.floor(i / 3) % 11)},Norway\n`,
    );
  return Buffer.from(rows.join(''));
};

const metadata = (overrides: Record<string, string> = {}) => ({
  'original-key': encodeURIComponent('imports/events/online-retail-ii/may 2011.csv.gz'),
  source: 'online-retail-ii',
  'content-sha256': SHA,
  part: '2',
  parts: '3',
  'first-line': '1201',
  'line-offset': '1199',
  records: '1200',
  ...overrides,
});

const reportsWritten = () =>
  s3Mock
    .commandCalls(PutObjectCommand)
    .filter((c) => String(c.args[0].input.Key).startsWith('import-reports/'))
    .map((c) => ({ key: c.args[0].input.Key as string, report: JSON.parse(String(c.args[0].input.Body)) as ImportReport }));

beforeEach(() => {
  s3Mock.reset();
  ddbMock.reset();
  s3Mock.onAnyCommand().resolves({});
  ddbMock.onAnyCommand().resolves({});
});

describe('importSettings', () => {
  it('defaults to 32 MiB parts and a gzip ratio of 10, and names a bad variable', () => {
    // Act / Assess
    expect(importSettings({})).toEqual({ partBytes: 32 * 1024 * 1024, gzipRatio: 10 });
    expect(importSettings({ IMPORT_PART_BYTES: '20000', IMPORT_GZIP_RATIO: '4' })).toEqual({ partBytes: 20000, gzipRatio: 4 });
    expect(() => importSettings({ IMPORT_PART_BYTES: '12.5' })).toThrow(/IMPORT_PART_BYTES must be an integer ≥ 1024, got "12.5"/);
    expect(() => importSettings({ IMPORT_PART_BYTES: 'lots' })).toThrow(/IMPORT_PART_BYTES must be a number/);
    expect(() => importSettings({ IMPORT_GZIP_RATIO: '0.5' })).toThrow(/IMPORT_GZIP_RATIO must be a number ≥ 1/);
  });
});

describe('parsePartMetadata', () => {
  const key = partKey('online-retail-ii', SHA, 2, 'csv');

  it('reads the metadata a hand-over writes', () => {
    // Act
    const parsed = parsePartMetadata(key, metadata());

    // Assess
    expect(parsed).toEqual({
      metadata: {
        'original-key': 'imports/events/online-retail-ii/may 2011.csv.gz',
        source: 'online-retail-ii',
        'content-sha256': SHA,
        part: 2,
        parts: 3,
        'first-line': 1201,
        'line-offset': 1199,
        records: 1200,
      },
    });
  });

  it('names each bad field, and a key that is not the one its metadata describes', () => {
    // Act / Assess
    expect(parsePartMetadata(key, metadata({ part: 'two', 'line-offset': '-3' }))).toEqual({
      issues: [
        { field: 'metadata.part', reason: 'must be a non-negative integer' },
        { field: 'metadata.line-offset', reason: 'must be a non-negative integer' },
      ],
    });
    expect(parsePartMetadata(key, metadata({ part: '4' }))).toEqual({ issues: [{ field: 'metadata.part', reason: 'must be ≤ metadata.parts (3)' }] });
    expect(parsePartMetadata(key, metadata({ part: '1' }))).toEqual({
      issues: [{ field: 'key', reason: `does not match its metadata (expected ${partKey('online-retail-ii', SHA, 1, 'csv')})` }],
    });
    const { 'content-sha256': _sha, ...missing } = metadata();
    expect(parsePartMetadata(key, missing)).toMatchObject({ issues: [{ field: 'metadata.content-sha256' }] });
  });
});

describe('importObject', () => {
  it('reports a key outside imports/events/ and imports/parts/ without reading it', async () => {
    // Act
    const report = await importObject(deps(), { key: 'imports/other/file.csv', size: 10, eTag: 'e' });

    // Assess
    expect(report.errors).toEqual([
      { line: 0, issues: [{ field: 'key', reason: 'must start with imports/events/ (event files) or imports/parts/ (their parts)' }] },
    ]);
    expect(s3Mock.commandCalls(GetObjectCommand)).toEqual([]);
    expect(reportsWritten().map((r) => r.key)).toEqual(['import-reports/other/file.csv.report.json']);
  });

  it('refuses a part whose metadata is wrong, naming the field, and imports nothing', async () => {
    // Prepare
    const key = partKey('online-retail-ii', SHA, 2, 'csv');
    s3Mock.on(HeadObjectCommand).resolves({ ContentLength: 10, Metadata: metadata({ 'first-line': '0' }) });

    // Act
    const report = await importObject(deps(), { key });

    // Assess
    expect(report.errors).toEqual([{ line: 0, issues: [{ field: 'metadata.first-line', reason: 'must be ≥ 1' }] }]);
    expect(s3Mock.commandCalls(GetObjectCommand)).toEqual([]);
    expect(ddbMock.calls()).toEqual([]);
  });

  it('imports a small upload in one pass (no part, no staging)', async () => {
    // Prepare
    const body = csv();
    s3Mock.on(GetObjectCommand).callsFake(() => ({ Body: Readable.from([body]) }));
    ddbMock.on(UpdateCommand).resolves({ Attributes: {} });

    // Act
    const report = await importObject(deps(1_000_000), { key: 'imports/events/online-retail-ii/small.csv', size: body.length, eTag: 'e1' });

    // Assess
    expect(report).toMatchObject({ lines: 120, messages: 40, rejected: 0 });
    expect(report.split).toBeUndefined();
    expect(s3Mock.commandCalls(CopyObjectCommand)).toEqual([]);
    const ledger = ddbMock
      .commandCalls(PutCommand)
      .map((c) => String(c.args[0].input.Item?.pk))
      .filter((pk) => pk.startsWith('IMPORT'));
    expect(ledger).toEqual([`IMPORT#${report.contentSha256}`]);
  });

  it('splits a large upload: stages the parts, claims its content, then copies them to imports/parts/ with their metadata', async () => {
    // Prepare: a gzipped upload whose size × 10 exceeds 2,000 bytes.
    const body = csv();
    const key = 'imports/events/online-retail-ii/may 2011.csv.gz';
    s3Mock.on(GetObjectCommand).callsFake(() => ({ Body: Readable.from([gzipSync(body)]) }));

    // Act
    const report = await importObject(deps(), { key, size: gzipSync(body).length, eTag: 'etag-1' }, { deadline: Date.now() + 600_000 });

    // Assess
    expect(report).toMatchObject({ key, status: 'importing', lines: 120, accepted: 0, split: { partBytes: 2000, forcedCuts: expect.any(Number) } });
    const parts = report.split?.parts as number;
    expect(parts).toBeGreaterThan(2);
    const staged = s3Mock.commandCalls(PutObjectCommand).filter((c) => String(c.args[0].input.Key).startsWith('imports/staging/'));
    const copies = s3Mock.commandCalls(CopyObjectCommand).map((c) => c.args[0].input);
    const deleted = s3Mock.commandCalls(DeleteObjectCommand).map((c) => c.args[0].input.Key);
    expect(staged.length).toBe(parts);
    expect(copies.map((c) => c.Key)).toEqual(Array.from({ length: parts }, (_, i) => partKey('online-retail-ii', report.contentSha256, i + 1, 'csv')));
    expect(copies.map((c) => c.CopySource)).toEqual(staged.map((c) => `${BUCKET}/${c.args[0].input.Key}`));
    expect(deleted).toEqual(staged.map((c) => c.args[0].input.Key));
    expect(copies[1]).toMatchObject({
      MetadataDirective: 'REPLACE',
      Metadata: { 'original-key': encodeURIComponent(key), part: '2', parts: String(parts), 'content-sha256': report.contentSha256 },
    });
    const rows = staged.flatMap((c) =>
      gunzipSync(c.args[0].input.Body as Buffer)
        .toString('utf8')
        .split('\n')
        .slice(1, -1),
    );
    expect(rows.join('\n')).toBe(body.toString('utf8').slice(HEADER.length, -1));
    // The interim report goes out before any part exists; the ledger hands the content over after the copies.
    expect(reportsWritten()).toEqual([
      { key: 'import-reports/events/online-retail-ii/may 2011.csv.gz.report.json', report: expect.objectContaining({ status: 'importing' }) },
    ]);
    const updates = ddbMock.commandCalls(UpdateCommand).map((c) => c.args[0].input);
    expect(updates.map((u) => [u.Key?.pk, u.Key?.sk, u.ExpressionAttributeValues?.[':split'] ?? u.ExpressionAttributeValues?.[':done']])).toEqual([
      [`IMPORT#${report.contentSha256}`, 'PARTS', undefined],
      [`IMPORT#${report.contentSha256}`, 'FILE', 'split'],
      [expect.stringMatching(/^IMPORTOBJ#[0-9a-f]{64}$/), 'SPLIT', 'done'],
    ]);
  });

  it('copies no part when the same content was imported already, and says of which file', async () => {
    // Prepare
    const body = csv();
    s3Mock.on(GetObjectCommand).callsFake(() => ({ Body: Readable.from([gzipSync(body)]) }));
    ddbMock
      .on(PutCommand)
      .callsFake((input: { Item: { pk: string } }) => {
        if (input.Item.pk.startsWith('IMPORTOBJ#')) return {};
        throw new ConditionalCheckFailedException({ message: 'exists', $metadata: {} });
      })
      .on(GetCommand)
      .resolves({ Item: { status: 'done', key: 'imports/events/online-retail-ii/first.csv.gz' } });

    // Act
    const report = await importObject(deps(), { key: 'imports/events/online-retail-ii/again.csv.gz', size: 5000, eTag: 'etag-2' });

    // Assess
    expect(report).toMatchObject({ skipped: 'duplicate', duplicateOf: 'imports/events/online-retail-ii/first.csv.gz', accepted: 0 });
    expect(s3Mock.commandCalls(CopyObjectCommand)).toEqual([]);
    expect(s3Mock.commandCalls(DeleteObjectCommand).length).toBe(
      s3Mock.commandCalls(PutObjectCommand).filter((c) => String(c.args[0].input.Key).startsWith('imports/staging/')).length,
    );
    expect(reportsWritten().map((r) => r.report.skipped)).toEqual(['duplicate']);
  });
});
