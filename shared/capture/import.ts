import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { type CsvError, parse } from 'csv-parse';
import type { FieldIssue } from '../http/errors';
import { isConditionFailure, type LedgerKind, type ProfilesTable, type Update } from '../profiles/table';
import type { ObjectStore } from '../storage/object-store';
import { CSV_PARSE_OPTIONS, headerIssue, type ImportFormat, MAX_RECORD_BYTES, ndjsonLines, recordTooLongIssue } from './import-split';
import { mappingFor, type MappedMessage, type RowMapper, type SourceMapping } from './mappings/index';
import { type CaptureDeps, captureBatch } from './service';

export type { ImportFormat } from './import-split';

export const IMPORTS_PREFIX = 'imports/';
/** Event files: `imports/events/<source>/…` (catalogue uploads live under imports/catalog/: S3 forbids overlapping trigger rules). */
export const EVENT_IMPORTS_PREFIX = 'imports/events/';
/** Parts of a large event file (shared/capture/import-parts.ts): `imports/parts/<source>/<content sha256>/part-NNNNN.<format>.gz`. */
export const PART_IMPORTS_PREFIX = 'imports/parts/';
export const IMPORT_REPORTS_PREFIX = 'import-reports/';
/** Messages per capture call: bounds memory whatever the file size. */
const CHUNK = 500;
export const MAX_REPORTED_ERRORS = 1000;
/** An import without a known deadline holds its claim this long past its last heartbeat. */
export const LEASE_MS = 120_000;
const HEARTBEAT_MS = 30_000;

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
  /** A file split into parts (shared/capture/import-parts.ts): 'importing' until every part is done. */
  status?: 'importing' | 'done';
  split?: SplitInfo;
  /** Per part of a split file, in order (the row errors of each are in its reportKey). */
  parts?: PartOutcome[];
}

export interface SplitInfo {
  parts: number;
  /** The IMPORT_PART_BYTES the file was cut with. */
  partBytes: number;
  partsPrefix: string;
  /** Cuts made before the mapping's whole look-ahead window (part size limit): a group of rows may straddle them. */
  forcedCuts: number;
}

export interface PartOutcome {
  part: number;
  key: string;
  reportKey: string;
  /** Line of the original file where the part's data starts. */
  firstLine: number;
  lines: number;
  messages: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  skipped?: 'duplicate';
  duplicateOf?: string;
}

export interface ImportOptions {
  /** Added to every line number (a part of a split file reports, and builds message ids from, the original's lines). */
  lineOffset?: number;
  /** The import ledger's id for content with this sha256 (default the sha256 itself). */
  ledgerId?: (sha256: string) => string;
  /** The `<source>` whose mapping applies (default: from the key). */
  source?: string;
  /** Recorded on quarantined rows (default `import:<key>`). */
  captureSource?: string;
  /** Epoch ms when this invocation ends (Lambda deadline): the claim on the file is held until then. */
  deadline?: number;
}

export interface ImportDeps extends CaptureDeps {
  blobs: ObjectStore;
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
  const prefix = [EVENT_IMPORTS_PREFIX, PART_IMPORTS_PREFIX].find((p) => key.startsWith(p)) ?? IMPORTS_PREFIX;
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
export async function importFile(deps: ImportDeps, key: string, options: ImportOptions = {}): Promise<ImportReport> {
  const report = newImportReport(deps, key, options.source);
  const format = importFormat(key);
  const mapping = (deps.mappingFor ?? mappingFor)(report.source);
  const refusal = refuseImport(key, report.source, mapping);
  if (refusal) return writeFileError(deps, report, refusal.field, refusal.reason);

  try {
    report.contentSha256 = await sha256Of(await deps.blobs.getStream(key));
  } catch (error) {
    if (!isGzipError(error)) throw error;
    return writeFileError(deps, report, '(file)', `is not a valid gzip file: ${(error as Error).message}`);
  }
  const ledgerId = options.ledgerId?.(report.contentSha256) ?? report.contentSha256;
  const ledger = new ImportLedger(deps.profiles.table);
  const leaseUntil = () => options.deadline ?? Date.now() + LEASE_MS;
  const claim = await ledger.claim(ledgerId, key, new Date(), leaseUntil());
  if (claim.state !== 'claimed') {
    report.skipped = claim.state === 'done' ? 'duplicate' : 'in-progress';
    report.duplicateOf = claim.key;
    report.finishedAt = new Date().toISOString();
    // The first import's report stays where it is; a copy under another key gets its own note.
    if (claim.state === 'done' && claim.key !== key) await deps.blobs.putJson(importReportKey(key), report);
    return report;
  }
  try {
    const captureSource = options.captureSource ?? `import:${key}`;
    await runImport({ ...deps, source: deps.source ?? captureSource }, key, format as ImportFormat, mapping, report, options.lineOffset ?? 0, () =>
      ledger.heartbeat(ledgerId, leaseUntil()),
    );
    report.finishedAt = new Date().toISOString();
    await deps.blobs.putJson(importReportKey(key), report);
    await ledger.finish(ledgerId, { accepted: report.accepted, rejected: report.rejected, reportKey: importReportKey(key) });
    return report;
  } catch (error) {
    await ledger.fail(ledgerId, error).catch(() => undefined);
    throw error;
  }
}

/** An empty report for `key` (counts zero, started now). */
export function newImportReport(deps: Pick<ImportDeps, 'now' | 'mappingFor'>, key: string, source = importSource(key)): ImportReport {
  const report: ImportReport = {
    key,
    source,
    format: importFormat(key) ?? 'unknown',
    lines: 0,
    messages: 0,
    accepted: 0,
    duplicates: 0,
    rejected: 0,
    errors: [],
    errorsTruncated: false,
    contentSha256: '',
    startedAt: (deps.now?.() ?? new Date()).toISOString(),
    finishedAt: '',
  };
  const mapping = (deps.mappingFor ?? mappingFor)(source);
  if (mapping) report.mapping = mapping.source;
  return report;
}

/** Why a file cannot be imported at all, from its key (format) and source (mapping); undefined when it can. */
export function refuseImport(key: string, source: string, mapping: SourceMapping | undefined): FieldIssue | undefined {
  const format = importFormat(key);
  if (!format) return { field: 'key', reason: 'must end in .csv, .csv.gz, .ndjson, .ndjson.gz, .jsonl or .jsonl.gz' };
  if (format === 'csv' && !mapping)
    return {
      field: 'key',
      reason: `a CSV import needs a column mapping: put it under imports/events/<source>/ with a known source (no mapping for "${source}")`,
    };
  return undefined;
}

/** A file refused as a whole: one error (line 0), written as its report. */
export async function writeFileError(deps: Pick<ImportDeps, 'blobs'>, report: ImportReport, field: string, reason: string, line = 0): Promise<ImportReport> {
  report.rejected += 1;
  report.errors.push({ line, issues: [{ field, reason }] });
  report.finishedAt = new Date().toISOString();
  await deps.blobs.putJson(importReportKey(report.key), report);
  return report;
}

/** zlib's errors on a corrupt or truncated .gz (bad input, not a failure to retry). */
export function isGzipError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && (code.startsWith('Z_') || code === 'ERR_ZLIB_INITIALIZATION_FAILED');
}

/** Kept for callers written before CSV support (functions/jobs/build-features.ts): same as importFile. */
export const importNdjson = importFile;

async function runImport(
  deps: ImportDeps,
  key: string,
  format: ImportFormat,
  mapping: SourceMapping | undefined,
  report: ImportReport,
  lineOffset: number,
  heartbeat: () => Promise<void>,
) {
  let lastBeat = Date.now();
  const sink = async (batch: MappedMessage[]) => {
    const result = await captureBatch(deps, { batch: batch.map((m) => m.message) });
    report.accepted += result.accepted;
    report.duplicates += result.duplicates;
    for (const rejected of result.rejected) addReportError(report, batch[rejected.index]?.lines[0] ?? 0, rejected.issues);
    if (Date.now() - lastBeat > HEARTBEAT_MS) {
      lastBeat = Date.now();
      await heartbeat();
    }
  };
  try {
    await streamMessages(await deps.blobs.getStream(key), format, mapping, report, sink, { chunkSize: deps.chunkSize ?? CHUNK, lineOffset });
  } catch (error) {
    // It was read whole once already (hashing), so this is a truncated or changed object: say so.
    if (!isGzipError(error)) throw error;
    addReportError(report, 0, [{ field: '(file)', reason: `is not a valid gzip file: ${(error as Error).message}` }]);
  }
}

function addReportError(report: Pick<ImportReport, 'rejected' | 'errors' | 'errorsTruncated'>, line: number, issues: FieldIssue[]) {
  report.rejected += 1;
  if (report.errors.length < MAX_REPORTED_ERRORS) report.errors.push({ line, issues });
  else report.errorsTruncated = true;
}

export interface StreamOptions {
  /** Messages per sink call (default 500). */
  chunkSize?: number;
  /** Added to every line number (parts of a split file). */
  lineOffset?: number;
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
  options: number | StreamOptions = CHUNK,
): Promise<void> {
  const { chunkSize = CHUNK, lineOffset = 0 } = typeof options === 'number' ? { chunkSize: options } : options;
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
    await readCsv(input, mapping, mapper, report, addError, take, lineOffset);
  } else await readNdjson(input, mapper, report, addError, take, lineOffset);
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
  lineOffset: number,
) {
  let lastLine = 0;
  const parser = parse({
    ...CSV_PARSE_OPTIONS,
    columns: (header: string[]) => {
      const names = header.map((h) => h.trim());
      const issue = headerIssue(names, mapping.requiredColumns, mapping.source);
      if (issue) throw new ImportFileError(issue.field, issue.reason);
      return names;
    },
  });
  parser.on('skip', (error: CsvError) => {
    if (error.code === 'CSV_MAX_RECORD_SIZE') {
      // csv-parse does not recover from it: report it, and stop reading.
      addError(lastLine + lineOffset + 1, [recordTooLongIssue('CSV record')]);
      input.unpipe(parser);
      input.destroy();
      parser.end();
    } else
      addError(Number((error as CsvError & { lines?: number }).lines ?? 0) + lineOffset, [{ field: '(row)', reason: shiftLines(error.message, lineOffset) }]);
  });
  input.on('error', (error) => parser.destroy(error));
  try {
    for await (const { record, info } of input.pipe(parser) as AsyncIterable<{ record: Record<string, unknown>; info: { lines: number } }>) {
      report.lines += 1;
      lastLine = info.lines;
      await take(mapper.push(record, info.lines + lineOffset));
    }
  } catch (error) {
    if (error instanceof ImportFileError) addError(1, [{ field: error.field, reason: error.reason }]);
    else if ((error as { code?: string }).code?.startsWith('CSV_'))
      addError(lastLine + lineOffset + 1, [{ field: '(file)', reason: shiftLines((error as Error).message, lineOffset) }]);
    else throw error;
  }
}

/** csv-parse names lines in its messages ("… at line 4"): those of the original file for a part. */
const shiftLines = (message: string, offset: number) =>
  offset === 0 ? message : message.replace(/\bline (\d+)/g, (_, n: string) => `line ${Number(n) + offset}`);

async function readNdjson(
  input: Readable,
  mapper: RowMapper | undefined,
  report: Pick<ImportReport, 'lines'>,
  addError: (line: number, issues: FieldIssue[]) => void,
  take: Take,
  lineOffset: number,
) {
  for await (const read of ndjsonLines(input)) {
    report.lines += 1;
    const line = read.number + lineOffset;
    if (read.tooLong) {
      addError(line, [{ field: '(line)', reason: `is longer than ${MAX_RECORD_BYTES} bytes: not imported` }]);
      continue;
    }
    const text = read.bytes.toString('utf8');
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

export type Claim = { state: 'claimed' } | { state: 'done' | 'busy'; key: string; summary?: Record<string, unknown> };

/**
 * Which file contents were imported: `import-file` records of the profiles table (`import-split`:
 * one split per uploaded object version; see shared/profiles/table.ts for the keys). A claim is a conditional put holding a lease until
 * `leaseUntil` (the claimer's Lambda deadline, or a heartbeat-renewed LEASE_MS): a duplicate S3
 * notification for a live import is skipped, while a retry after a crash or a timeout takes over
 * once the lease has run out. Items written before leases (heartbeatAt only) expire LEASE_MS after it.
 */
export class ImportLedger {
  constructor(
    private readonly table: ProfilesTable,
    private readonly kind: Extract<LedgerKind, 'import-file' | 'import-split'> = 'import-file',
  ) {}

  async claim(id: string, key: string, now: Date, leaseUntil = now.getTime() + LEASE_MS): Promise<Claim> {
    try {
      await this.table.putLedger(
        this.kind,
        id,
        { status: 'running', key, startedAt: now.toISOString(), heartbeatAt: now.getTime(), leaseUntil },
        {
          condition:
            'attribute_not_exists(pk) OR #st = :failed OR (#st <> :done AND leaseUntil < :now) OR (#st = :running AND attribute_not_exists(leaseUntil) AND heartbeatAt < :stale)',
          names: { '#st': 'status' },
          values: { ':failed': 'failed', ':running': 'running', ':done': 'done', ':now': now.getTime(), ':stale': now.getTime() - LEASE_MS },
        },
      );
      return { state: 'claimed' };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    const item = await this.table.getLedger<{ status?: string; key?: string; summary?: Record<string, unknown> }>(this.kind, id);
    if (!item) return this.claim(id, key, now, leaseUntil);
    return { state: item.status === 'done' ? 'done' : 'busy', key: String(item.key), ...(item.summary ? { summary: item.summary } : {}) };
  }

  async heartbeat(id: string, leaseUntil = Date.now() + LEASE_MS): Promise<void> {
    await this.table.updateLedger(this.kind, id, {
      update: 'SET heartbeatAt = :now, leaseUntil = :until',
      values: { ':now': Date.now(), ':until': leaseUntil },
    });
  }

  /**
   * A split file whose parts were handed over (shared/capture/import-parts.ts): not claimable until
   * `leaseUntil` (after that, a re-upload re-dispatches its parts, which import only what is missing).
   */
  async handOver(id: string, leaseUntil: number, summary: Record<string, unknown>): Promise<void> {
    await this.ifNotDone(id, {
      update: 'SET #st = :split, leaseUntil = :until, summary = :summary',
      // Its parts may all have finished (status done) before this runs.
      condition: 'attribute_not_exists(#st) OR #st <> :done',
      names: { '#st': 'status' },
      values: { ':split': 'split', ':until': leaseUntil, ':summary': summary, ':done': 'done' },
    });
  }

  private async ifNotDone(id: string, update: Update): Promise<void> {
    try {
      await this.table.updateLedger(this.kind, id, update);
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  async finish(sha: string, summary: Record<string, unknown>): Promise<void> {
    await this.table.updateLedger(this.kind, sha, {
      update: 'SET #st = :done, finishedAt = :now, summary = :summary',
      names: { '#st': 'status' },
      values: { ':done': 'done', ':now': new Date().toISOString(), ':summary': summary },
    });
  }

  /** Marks a claim failed (claimable at once); a finished import stays finished. */
  async fail(sha: string, error: unknown): Promise<void> {
    await this.ifNotDone(sha, {
      update: 'SET #st = :failed, failedAt = :now, failure = :reason',
      condition: 'attribute_not_exists(#st) OR #st <> :done',
      names: { '#st': 'status' },
      values: {
        ':done': 'done',
        ':failed': 'failed',
        ':now': new Date().toISOString(),
        ':reason': String((error as Error)?.message ?? error).slice(0, 500),
      },
    });
  }
}
