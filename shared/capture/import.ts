import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type CsvError, parse } from 'csv-parse';
import type { FieldIssue } from '../http/errors';
import { isConditionFailure } from '../identity/graph';
import type { BlobStore } from '../storage/blob';
import { mappingFor, type MappedMessage, type RowMapper, type SourceMapping } from './mappings/index';
import { type CaptureDeps, captureBatch } from './service';

export const IMPORTS_PREFIX = 'imports/';
/** Event files: `imports/events/<source>/…` (catalogue uploads live under imports/catalog/: S3 forbids overlapping trigger rules). */
export const EVENT_IMPORTS_PREFIX = 'imports/events/';
export const IMPORT_REPORTS_PREFIX = 'import-reports/';
/** Messages per capture call: bounds memory whatever the file size. */
const CHUNK = 500;
const MAX_REPORTED_ERRORS = 1000;
/** An import whose heartbeat is older than this is presumed dead and may be taken over. */
const LEASE_MS = 120_000;
const HEARTBEAT_MS = 30_000;

export type ImportFormat = 'csv' | 'ndjson';

export interface ImportReport {
  key: string;
  /** `<source>` of `imports/events/<source>/…` ('' when the file sits directly under imports/events/). */
  source: string;
  format: ImportFormat | 'unknown';
  /** The column mapping used (none: NDJSON lines are Segment messages). */
  mapping?: string;
  /** Data lines read (CSV rows without the header, NDJSON lines). */
  lines: number;
  /** Segment messages built from them (CSV invoices may group many rows into one message). */
  messages: number;
  accepted: number;
  duplicates: number;
  /** Rows or messages refused (each with its line number and reasons in `errors`). */
  rejected: number;
  /** Row-level errors (the first MAX_REPORTED_ERRORS), by 1-based line number of the file. */
  errors: { line: number; issues: FieldIssue[] }[];
  errorsTruncated: boolean;
  /** sha256 of the (decompressed) content: the identity of the file in the import ledger. */
  contentSha256: string;
  /** Set when the file was not imported: the same content was imported (or is being imported) already. */
  skipped?: 'duplicate' | 'in-progress';
  duplicateOf?: string;
  startedAt: string;
  finishedAt: string;
}

export interface ImportDeps extends CaptureDeps {
  blobs: BlobStore;
  /** Mappings by source (default shared/capture/mappings). */
  mappingFor?: (source: string) => SourceMapping | undefined;
  /** Messages per capture call (default 500). */
  chunkSize?: number;
}

export class ImportFileError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field} ${reason}`);
    this.name = 'ImportFileError';
  }
}

export function importFormat(key: string): ImportFormat | undefined {
  if (/\.csv(\.gz)?$/i.test(key)) return 'csv';
  if (/\.(ndjson|jsonl)(\.gz)?$/i.test(key)) return 'ndjson';
  return undefined;
}

export function importSource(key: string): string {
  const prefix = key.startsWith(EVENT_IMPORTS_PREFIX) ? EVENT_IMPORTS_PREFIX : IMPORTS_PREFIX;
  const rest = key.startsWith(prefix) ? key.slice(prefix.length) : key;
  const slash = rest.indexOf('/');
  return slash > 0 ? rest.slice(0, slash) : '';
}

export const importReportKey = (key: string) =>
  `${IMPORT_REPORTS_PREFIX}${key.startsWith(IMPORTS_PREFIX) ? key.slice(IMPORTS_PREFIX.length) : key}.report.json`;

/**
 * Imports a bulk file uploaded under `imports/events/<source>/…` through the capture path: CSV (mapped by
 * the source's column mapping) or NDJSON (Segment messages, or rows mapped when the source has a
 * mapping), optionally gzipped. Streamed in bounded chunks (never loaded whole). A file whose
 * content was already imported is skipped (import ledger keyed by the content's sha256); within a
 * file, deterministic message ids make a retried or partial import count every event once.
 * The row-level report is written to `import-reports/events/<source>/<file>.report.json`.
 */
export async function importFile(deps: ImportDeps, key: string): Promise<ImportReport> {
  const startedAt = (deps.now?.() ?? new Date()).toISOString();
  const format = importFormat(key);
  const source = importSource(key);
  const report: ImportReport = {
    key,
    source,
    format: format ?? 'unknown',
    lines: 0,
    messages: 0,
    accepted: 0,
    duplicates: 0,
    rejected: 0,
    errors: [],
    errorsTruncated: false,
    contentSha256: '',
    startedAt,
    finishedAt: '',
  };
  const mapping = (deps.mappingFor ?? mappingFor)(source);
  if (mapping) report.mapping = mapping.source;
  const fileError = async (field: string, reason: string) => {
    report.rejected += 1;
    report.errors.push({ line: 0, issues: [{ field, reason }] });
    report.finishedAt = new Date().toISOString();
    await deps.blobs.putJson(importReportKey(key), report);
    return report;
  };
  if (!format) return fileError('key', 'must end in .csv, .csv.gz, .ndjson, .ndjson.gz, .jsonl or .jsonl.gz');
  if (format === 'csv' && !mapping)
    return fileError('key', `a CSV import needs a column mapping: put it under imports/events/<source>/ with a known source (no mapping for "${source}")`);

  report.contentSha256 = await sha256Of(await deps.blobs.getStream(key));
  const ledger = new ImportLedger(deps.profiles.client, deps.profiles.tableName);
  const claim = await ledger.claim(report.contentSha256, key, new Date());
  if (claim.state !== 'claimed') {
    report.skipped = claim.state === 'done' ? 'duplicate' : 'in-progress';
    report.duplicateOf = claim.key;
    report.finishedAt = new Date().toISOString();
    // The first import's report stays where it is; a copy under another key gets its own note.
    if (claim.state === 'done' && claim.key !== key) await deps.blobs.putJson(importReportKey(key), report);
    return report;
  }
  try {
    await runImport(deps, key, format, mapping, report, () => ledger.heartbeat(report.contentSha256));
    report.finishedAt = new Date().toISOString();
    await deps.blobs.putJson(importReportKey(key), report);
    await ledger.finish(report.contentSha256, { accepted: report.accepted, rejected: report.rejected, reportKey: importReportKey(key) });
    return report;
  } catch (error) {
    await ledger.fail(report.contentSha256, error).catch(() => undefined);
    throw error;
  }
}

/** Kept for callers written before CSV support (functions/jobs/build-features.ts): same as importFile. */
export const importNdjson = importFile;

async function runImport(
  deps: ImportDeps,
  key: string,
  format: ImportFormat,
  mapping: SourceMapping | undefined,
  report: ImportReport,
  heartbeat: () => Promise<void>,
) {
  let lastBeat = Date.now();
  const sink = async (batch: MappedMessage[]) => {
    const result = await captureBatch({ ...deps, source: deps.source ?? `import:${key}` }, { batch: batch.map((m) => m.message) });
    report.accepted += result.accepted;
    report.duplicates += result.duplicates;
    for (const rejected of result.rejected) addReportError(report, batch[rejected.index]?.lines[0] ?? 0, rejected.issues);
    if (Date.now() - lastBeat > HEARTBEAT_MS) {
      lastBeat = Date.now();
      await heartbeat();
    }
  };
  await streamMessages(await deps.blobs.getStream(key), format, mapping, report, sink, deps.chunkSize ?? CHUNK);
}

function addReportError(report: Pick<ImportReport, 'rejected' | 'errors' | 'errorsTruncated'>, line: number, issues: FieldIssue[]) {
  report.rejected += 1;
  if (report.errors.length < MAX_REPORTED_ERRORS) report.errors.push({ line, issues });
  else report.errorsTruncated = true;
}

/**
 * The streaming half of an import (no capture): reads a CSV or NDJSON stream, maps its rows, and
 * hands Segment messages to `sink` in chunks of `chunkSize`, awaiting each (so memory stays bounded
 * by one chunk plus the mapping's window). Row errors and counts go to `report`.
 */
export async function streamMessages(
  input: Readable,
  format: ImportFormat,
  mapping: SourceMapping | undefined,
  report: Pick<ImportReport, 'lines' | 'messages' | 'rejected' | 'errors' | 'errorsTruncated'>,
  sink: (batch: MappedMessage[]) => Promise<void>,
  chunkSize = CHUNK,
): Promise<void> {
  const addError = (line: number, issues: FieldIssue[]) => addReportError(report, line, issues);
  let chunk: MappedMessage[] = [];
  const flush = async () => {
    if (chunk.length === 0) return;
    const batch = chunk;
    chunk = [];
    report.messages += batch.length;
    await sink(batch);
  };
  const take = async (out: { messages: MappedMessage[]; errors: { line: number; issues: FieldIssue[] }[] }) => {
    for (const e of out.errors) addError(e.line, e.issues);
    for (const m of out.messages) {
      chunk.push(m);
      if (chunk.length >= chunkSize) await flush();
    }
  };
  const mapper = mapping?.createMapper();
  if (format === 'csv') {
    if (!mapping || !mapper) throw new ImportFileError('key', 'a CSV import needs a column mapping');
    await readCsv(input, mapping, mapper, report, addError, take);
  } else await readNdjson(input, mapper, report, addError, take);
  if (mapper) await take(mapper.end());
  await flush();
}

type Take = (out: { messages: MappedMessage[]; errors: { line: number; issues: FieldIssue[] }[] }) => Promise<void>;

async function readCsv(
  input: Readable,
  mapping: SourceMapping,
  mapper: RowMapper,
  report: Pick<ImportReport, 'lines'>,
  addError: (line: number, issues: FieldIssue[]) => void,
  take: Take,
) {
  const parser = parse({
    bom: true,
    info: true,
    skip_empty_lines: true,
    skip_records_with_error: true,
    columns: (header: string[]) => {
      const names = header.map((h) => h.trim());
      const missing = mapping.requiredColumns.filter((c) => !names.includes(c));
      if (missing.length > 0) throw new ImportFileError('(header)', `is missing column(s) ${missing.join(', ')} required by the "${mapping.source}" mapping`);
      return names;
    },
  });
  parser.on('skip', (error: CsvError) => addError(Number((error as CsvError & { lines?: number }).lines ?? 0), [{ field: '(row)', reason: error.message }]));
  input.on('error', (error) => parser.destroy(error));
  try {
    for await (const { record, info } of input.pipe(parser) as AsyncIterable<{ record: Record<string, unknown>; info: { lines: number } }>) {
      report.lines += 1;
      await take(mapper.push(record, info.lines));
    }
  } catch (error) {
    if (error instanceof ImportFileError) addError(1, [{ field: error.field, reason: error.reason }]);
    else if ((error as { code?: string }).code?.startsWith('CSV_')) addError(report.lines + 1, [{ field: '(file)', reason: (error as Error).message }]);
    else throw error;
  }
}

async function readNdjson(
  input: Readable,
  mapper: RowMapper | undefined,
  report: Pick<ImportReport, 'lines'>,
  addError: (line: number, issues: FieldIssue[]) => void,
  take: Take,
) {
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const text of lines) {
    report.lines += 1;
    const line = report.lines;
    if (text.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      addError(line, [{ field: '(line)', reason: `malformed JSON: ${(error as Error).message}` }]);
      continue;
    }
    if (mapper) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) addError(line, [{ field: '(line)', reason: 'must be a JSON object' }]);
      else await take(mapper.push(value as Record<string, unknown>, line));
    } else await take({ messages: [{ message: value as Record<string, unknown>, lines: [line] }], errors: [] });
  }
}

async function sha256Of(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

type Claim = { state: 'claimed' } | { state: 'done' | 'busy'; key: string };

/**
 * Which file contents were imported: `IMPORT#<sha256>` / `FILE` in the profiles table. A claim is a
 * conditional put; a running import renews its heartbeat, so a crashed one can be taken over after
 * LEASE_MS while a duplicate S3 notification for a live one is skipped.
 */
export class ImportLedger {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  private key(sha: string) {
    return { pk: `IMPORT#${sha}`, sk: 'FILE' };
  }

  async claim(sha: string, key: string, now: Date): Promise<Claim> {
    try {
      await this.ddb.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...this.key(sha), status: 'running', key, startedAt: now.toISOString(), heartbeatAt: now.getTime() },
          ConditionExpression: 'attribute_not_exists(pk) OR #st = :failed OR (#st = :running AND heartbeatAt < :stale)',
          ExpressionAttributeNames: { '#st': 'status' },
          ExpressionAttributeValues: { ':failed': 'failed', ':running': 'running', ':stale': now.getTime() - LEASE_MS },
        }),
      );
      return { state: 'claimed' };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    const out = await this.ddb.send(new GetCommand({ TableName: this.table, Key: this.key(sha), ConsistentRead: true }));
    const item = out.Item as { status?: string; key?: string } | undefined;
    if (!item) return this.claim(sha, key, now);
    return { state: item.status === 'done' ? 'done' : 'busy', key: String(item.key) };
  }

  async heartbeat(sha: string): Promise<void> {
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.table,
        Key: this.key(sha),
        UpdateExpression: 'SET heartbeatAt = :now',
        ExpressionAttributeValues: { ':now': Date.now() },
      }),
    );
  }

  async finish(sha: string, summary: Record<string, unknown>): Promise<void> {
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.table,
        Key: this.key(sha),
        UpdateExpression: 'SET #st = :done, finishedAt = :now, summary = :summary',
        ExpressionAttributeNames: { '#st': 'status' },
        ExpressionAttributeValues: { ':done': 'done', ':now': new Date().toISOString(), ':summary': summary },
      }),
    );
  }

  async fail(sha: string, error: unknown): Promise<void> {
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.table,
        Key: this.key(sha),
        UpdateExpression: 'SET #st = :failed, failedAt = :now, failure = :reason',
        ExpressionAttributeNames: { '#st': 'status' },
        ExpressionAttributeValues: {
          ':failed': 'failed',
          ':now': new Date().toISOString(),
          ':reason': String((error as Error)?.message ?? error).slice(0, 500),
        },
      }),
    );
  }
}
