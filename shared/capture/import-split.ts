/**
 * Splitting a bulk import file into parts that import independently (and in parallel): the file is
 * read ONCE (already decompressed), cut at record boundaries into gzipped parts of about
 * `partBytes` uncompressed bytes each, and hashed on the way. No AWS here: the caller stores parts.
 *
 * - CSV: the parser that imports the parts (csv-parse, same options) finds the record boundaries,
 *   so a quoted newline never splits a record; each part is the original header followed by the
 *   original bytes of its records (skipped blank or malformed records included verbatim: the part's
 *   import reports them). NDJSON: lines (`\n`).
 * - A source mapping that groups rows into one message (e.g. the rows of one invoice) gives a
 *   SplitRule; the splitter replays the mapper's grouping on the row keys and cuts only once every
 *   group open at the cut has closed without a row from after it, so every message is built from
 *   rows of one part, exactly as in a single pass.
 * - Line numbers: each part carries the offset of its lines in the original file, so its import
 *   reports (and builds message ids from) the original's line numbers.
 * - Deterministic: the same content gives the same cuts and the same part bytes (fixed gzip level),
 *   so a retry rewrites identical objects.
 */
import { createHash, type Hash } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { type CsvError, parse } from 'csv-parse';
import type { FieldIssue } from '../http/errors';

export type ImportFormat = 'csv' | 'ndjson';

/** Longest CSV record / NDJSON line read (a Segment message is at most 32 KB): bounds memory on hostile files. */
export const MAX_RECORD_BYTES = 1024 * 1024;
/** Measured on the synthetic invoice CSV: level 3 = 101 MiB/s at ratio 9.1, level 6 = 45 MiB/s at 9.7. */
const PART_GZIP_LEVEL = 3;
/** Writes to the gzip stream are batched (one write per record would cost a thread-pool hop each). */
const WRITE_BATCH_BYTES = 256 * 1024;

/** csv-parse options shared by the splitter and the importer: the same options find the same record boundaries. */
export const CSV_PARSE_OPTIONS = {
  bom: true,
  info: true,
  skip_empty_lines: true,
  skip_records_with_error: true,
  max_record_size: MAX_RECORD_BYTES,
} as const;

/**
 * How a source's mapper groups rows into messages (see SourceMapping.split). The contract is the
 * grouping of createOnlineRetailMapper: a row joins the open group of its key; whenever a grouped
 * row's key differs from the previous grouped row's, every group whose last row is more than
 * `windowRows` rows back (all rows counted) is closed.
 */
export interface SplitRule {
  /** The group the mapper puts this row in; undefined for a row it groups with nothing (e.g. one it rejects). */
  key(row: Record<string, unknown>): string | undefined;
  /** The CSV columns `key` reads (only these are handed to it). */
  columns: readonly string[];
  windowRows: number;
}

export interface SplitPart {
  /** 1-based. */
  number: number;
  /** The gzipped part (header + records). */
  body: Buffer;
  /** Uncompressed bytes, header included. */
  bytes: number;
  /** Data records (CSV records after the header; NDJSON lines, blank ones included). */
  records: number;
  /** Added to a line number of the part gives the line number in the original file. */
  lineOffset: number;
  /** Line of the original file where the part's data starts. */
  firstLine: number;
  /** sha256 of the uncompressed part. */
  sha256: string;
  /**
   * Cut at the part size limit while groups were still open (within the mapping's window), though not
   * before a row of one of them: a group that gets more rows later straddles the cut.
   */
  forced: boolean;
}

export interface SplitOptions {
  format: ImportFormat;
  /** Target uncompressed bytes per part (a part ends at the first allowed cut after it). */
  partBytes: number;
  rule?: SplitRule | undefined;
  /** CSV: the columns the header must have for the source's mapping (checked before any part is written). */
  header?: { required: readonly string[]; mapping: string };
  /** Receives each part in order; at most one call is in flight while the next part is cut. */
  onPart(part: SplitPart): Promise<void>;
  /**
   * Waiting for the groups open at a cut to close, a part grows to partBytes × (1 + overflow) at most
   * (default 0.25), then is cut before the next row that joins no open group (forced), or at
   * partBytes × (1 + 2 × overflow) in any case.
   */
  overflow?: number;
}

export interface SplitSummary {
  /** sha256 of the whole (decompressed) input. */
  sha256: string;
  bytes: number;
  /** Data records (as SplitPart.records). */
  records: number;
  parts: number;
  forcedCuts: number;
  /** CSV header problem: nothing was split (the file is refused as a whole). */
  headerIssue?: FieldIssue;
  /** Problems found while splitting (over-long lines, an unreadable rest of the file), by original line. */
  errors: { line: number; issues: FieldIssue[] }[];
}

interface SplitRecord {
  bytes: Buffer;
  key: string | undefined;
  /** Line of the original on which the record ends. */
  endLine: number;
}

/** Splits `input` (decompressed) into parts; see the module comment. */
export async function splitStream(input: Readable, options: SplitOptions): Promise<SplitSummary> {
  if (!(options.partBytes >= 1)) throw new RangeError(`partBytes must be ≥ 1, got ${options.partBytes}`);
  return options.format === 'csv' ? splitCsv(input, options) : splitNdjson(input, options);
}

/** Missing columns of a CSV header, as the importer reports them. */
export function headerIssue(names: readonly string[], required: readonly string[], mapping: string): FieldIssue | undefined {
  const missing = required.filter((c) => !names.includes(c));
  return missing.length > 0 ? { field: '(header)', reason: `is missing column(s) ${missing.join(', ')} required by the "${mapping}" mapping` } : undefined;
}

export const recordTooLongIssue = (what: string): FieldIssue => ({
  field: '(file)',
  reason: `a ${what} is longer than ${MAX_RECORD_BYTES} bytes (an unclosed quote?): the file was not read from this line on`,
});

async function splitCsv(input: Readable, options: SplitOptions): Promise<SplitSummary> {
  const hash = createHash('sha256');
  let total = 0;
  const raw = new RawWindow();
  const errors: SplitSummary['errors'] = [];
  let stopped = false;
  /** Reading stopped early (the rest of the file is not in any part). */
  let fatal = false;
  let lastLine = 0;
  const parser = parse({ ...CSV_PARSE_OPTIONS, relax_column_count: true });
  // Its errors reach the caller through the promise below or through `feeding`; none may go unhandled.
  parser.on('error', () => undefined);
  const stop = () => {
    if (stopped) return;
    stopped = true;
    parser.end();
  };
  parser.on('skip', (error: CsvError) => {
    // csv-parse does not recover after an over-long record: stop there and say so.
    if (error.code === 'CSV_MAX_RECORD_SIZE' && !fatal) {
      fatal = true;
      errors.push({ line: Number((error as CsvError & { lines?: number }).lines ?? lastLine + 1), issues: [recordTooLongIssue('CSV record')] });
      stop();
    }
  });
  // Reads the input once: everything is hashed; bytes go to the parser until it is stopped.
  const feeding = (async () => {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      hash.update(chunk);
      total += chunk.length;
      if (stopped) continue;
      raw.push(chunk);
      if (raw.retained > MAX_RECORD_BYTES * 2) {
        // Only skipped (malformed) records since the last good one: the parser will not recover.
        fatal = true;
        errors.push({
          line: lastLine + 1,
          issues: [{ field: '(file)', reason: `no valid CSV record in the ${MAX_RECORD_BYTES * 2} bytes after this line: the rest of the file was not read` }],
        });
        stop();
        continue;
      }
      if (!parser.write(chunk)) await drainOrClose(parser);
    }
    stop();
  })();
  feeding.catch((error: unknown) => parser.destroy(error as Error));

  let cutter: Cutter | undefined;
  let keyIndexes: number[] = [];
  const summary: SplitSummary = { sha256: '', bytes: 0, records: 0, parts: 0, forcedCuts: 0, errors };
  try {
    // 'data' events rather than `for await`: one promise per record is most of the cost at 10^7 records.
    await new Promise<void>((resolve, reject) => {
      // 'end' may come while the last record's promise is pending.
      let waiting: Promise<void> | undefined;
      const onRecord = ({ record, info }: { record: string[]; info: { bytes: number; lines: number } }) => {
        const bytes = raw.take(info.bytes);
        if (!cutter) {
          const names = record.map((h) => h.trim());
          const issue = options.header ? headerIssue(names, options.header.required, options.header.mapping) : undefined;
          if (issue) {
            summary.headerIssue = issue;
            stopped = true;
            input.destroy();
            parser.off('data', onRecord);
            parser.destroy();
            resolve();
            return;
          }
          keyIndexes = (options.rule?.columns ?? []).map((c) => names.indexOf(c));
          cutter = new Cutter(options, bytes, info.lines);
          lastLine = info.lines;
          return;
        }
        lastLine = info.lines;
        const wait = cutter.push({ bytes, key: csvKey(options.rule, record, keyIndexes), endLine: info.lines });
        if (wait) {
          parser.pause();
          waiting = wait.then(() => {
            waiting = undefined;
            parser.resume();
          });
          waiting.catch(reject);
        }
      };
      parser.on('data', onRecord);
      parser.once('end', () => (waiting ?? Promise.resolve()).then(resolve, reject));
      parser.once('error', reject);
    });
    if (summary.headerIssue) {
      await feeding.catch(() => undefined);
      return summary;
    }
    await feeding;
    if (cutter && !fatal) {
      // Trailing blank lines or a malformed last record: kept, so the part's import reports them.
      const rest = raw.take(Number.POSITIVE_INFINITY);
      if (rest.length > 0) await cutter.appendTail(rest);
    }
    if (cutter) Object.assign(summary, await cutter.finish());
  } catch (error) {
    input.destroy();
    parser.destroy();
    await cutter?.abort();
    throw error;
  }
  summary.sha256 = hash.digest('hex');
  summary.bytes = total;
  return summary;
}

function csvKey(rule: SplitRule | undefined, record: string[], indexes: number[]): string | undefined {
  if (!rule) return undefined;
  const row: Record<string, unknown> = {};
  rule.columns.forEach((column, i) => {
    const index = indexes[i] as number;
    if (index >= 0) row[column] = record[index];
  });
  return rule.key(row);
}

async function splitNdjson(input: Readable, options: SplitOptions): Promise<SplitSummary> {
  const hash = createHash('sha256');
  let total = 0;
  const errors: SplitSummary['errors'] = [];
  const cutter = new Cutter(options, Buffer.alloc(0), 0);
  const summary: SplitSummary = { sha256: '', bytes: 0, records: 0, parts: 0, forcedCuts: 0, errors };
  try {
    const lines = ndjsonLines(input, (chunk) => {
      hash.update(chunk);
      total += chunk.length;
    });
    for await (const line of lines) {
      if (line.tooLong) {
        errors.push({ line: line.number, issues: [{ field: '(line)', reason: `is longer than ${MAX_RECORD_BYTES} bytes: not imported` }] });
        // An empty line keeps the part's line numbers those of the original.
        const wait = cutter.push({ bytes: Buffer.from('\n'), key: undefined, endLine: line.number });
        if (wait) await wait;
        continue;
      }
      const wait = cutter.push({ bytes: line.bytes, key: jsonKey(options.rule, line.bytes), endLine: line.number });
      if (wait) await wait;
    }
    Object.assign(summary, await cutter.finish());
  } catch (error) {
    input.destroy();
    await cutter.abort();
    throw error;
  }
  summary.sha256 = hash.digest('hex');
  summary.bytes = total;
  return summary;
}

function jsonKey(rule: SplitRule | undefined, bytes: Buffer): string | undefined {
  if (!rule) return undefined;
  try {
    const value = JSON.parse(bytes.toString('utf8')) as unknown;
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? rule.key(value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export interface NdjsonLine {
  /** 1-based line number. */
  number: number;
  /** The line with its `\n` (absent on a last line without one); empty when tooLong. */
  bytes: Buffer;
  /** Longer than MAX_RECORD_BYTES: its bytes were dropped as they came. */
  tooLong: boolean;
}

/**
 * Lines of a stream, split on `\n` only, with their original bytes and a length bound. Hand-written
 * because node:readline drops the line endings, also breaks on a lone `\r`, and buffers a line of any length.
 */
export async function* ndjsonLines(input: Readable, onChunk?: (chunk: Buffer) => void): AsyncGenerator<NdjsonLine> {
  let carry: Buffer[] = [];
  let carryBytes = 0;
  let tooLong = false;
  let number = 0;
  for await (const chunk of input as AsyncIterable<Buffer>) {
    onChunk?.(chunk);
    let start = 0;
    for (let end = chunk.indexOf(10); end !== -1; end = chunk.indexOf(10, start)) {
      number += 1;
      const piece = chunk.subarray(start, end + 1);
      if (tooLong || carryBytes + piece.length > MAX_RECORD_BYTES + 1) yield { number, bytes: Buffer.alloc(0), tooLong: true };
      else yield { number, bytes: carry.length > 0 ? Buffer.concat([...carry, piece]) : piece, tooLong: false };
      carry = [];
      carryBytes = 0;
      tooLong = false;
      start = end + 1;
    }
    if (start < chunk.length && !tooLong) {
      const piece = chunk.subarray(start);
      carryBytes += piece.length;
      if (carryBytes > MAX_RECORD_BYTES + 1) {
        tooLong = true;
        carry = [];
      } else carry.push(piece);
    }
  }
  if (tooLong) yield { number: number + 1, bytes: Buffer.alloc(0), tooLong: true };
  else if (carryBytes > 0) yield { number: number + 1, bytes: Buffer.concat(carry), tooLong: false };
}

/** The input bytes since the last record taken (csv-parse reports where each record ends: `info.bytes`). */
class RawWindow {
  private chunks: Buffer[] = [];
  /** Absolute offset of chunks[0][0]. */
  private base = 0;
  /** Absolute offset of the first byte not taken yet. */
  private taken = 0;
  private end = 0;

  get retained(): number {
    return this.end - this.taken;
  }

  push(chunk: Buffer) {
    this.chunks.push(chunk);
    this.end += chunk.length;
  }

  /** Bytes [taken, upTo), dropping chunks no longer needed. */
  take(upTo: number): Buffer {
    const stop = Math.min(upTo, this.end);
    const pieces: Buffer[] = [];
    while (this.taken < stop) {
      const chunk = this.chunks[0] as Buffer;
      const from = this.taken - this.base;
      const to = Math.min(chunk.length, stop - this.base);
      pieces.push(chunk.subarray(from, to));
      this.taken = this.base + to;
      if (to === chunk.length) {
        this.chunks.shift();
        this.base += chunk.length;
      }
    }
    return pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces);
  }
}

/** The mapper's open groups, replayed on row keys (the SplitRule contract). */
class OpenGroups {
  private rows = 0;
  private lastKey: string | undefined;
  /** Key → row number of its last row. */
  readonly open = new Map<string, number>();

  constructor(private readonly windowRows: number) {}

  /** Adds a row; returns the keys of the groups this row closed (undefined: none). */
  add(key: string | undefined): string[] | undefined {
    this.rows += 1;
    if (key === undefined) return undefined;
    this.open.set(key, this.rows);
    if (key === this.lastKey) return undefined;
    this.lastKey = key;
    let closed: string[] | undefined;
    for (const [k, last] of this.open) {
      if (this.rows - last > this.windowRows) {
        this.open.delete(k);
        closed ??= [];
        closed.push(k);
      }
    }
    return closed;
  }
}

/** One part being written: header + records, gzipped as they come. */
class PartWriter {
  private readonly gzip = createGzip({ level: PART_GZIP_LEVEL });
  private readonly out: Buffer[] = [];
  private readonly hash: Hash = createHash('sha256');
  private readonly ended: Promise<void>;
  private batch: Buffer[] = [];
  private batchBytes = 0;
  bytes = 0;
  records = 0;

  constructor(
    readonly number: number,
    readonly lineOffset: number,
    header: Buffer,
  ) {
    this.gzip.on('data', (chunk: Buffer) => this.out.push(chunk));
    this.ended = new Promise((resolve, reject) => {
      this.gzip.on('end', resolve);
      this.gzip.on('error', reject);
    });
    this.ended.catch(() => undefined);
    if (header.length > 0) this.add(header);
  }

  private add(bytes: Buffer) {
    this.batch.push(bytes);
    this.batchBytes += bytes.length;
    this.bytes += bytes.length;
  }

  /** A promise only when the gzip stream asks to drain. */
  write(bytes: Buffer, record: boolean): Promise<void> | undefined {
    this.add(bytes);
    if (record) this.records += 1;
    return this.batchBytes >= WRITE_BATCH_BYTES ? this.flush() : undefined;
  }

  private flush(): Promise<void> | undefined {
    if (this.batchBytes === 0) return undefined;
    const data = this.batch.length === 1 ? (this.batch[0] as Buffer) : Buffer.concat(this.batch);
    this.batch = [];
    this.batchBytes = 0;
    this.hash.update(data);
    return this.gzip.write(data) ? undefined : drainOrClose(this.gzip);
  }

  async close(): Promise<{ body: Buffer; sha256: string }> {
    await this.flush();
    this.gzip.end();
    await this.ended;
    return { body: Buffer.concat(this.out), sha256: this.hash.digest('hex') };
  }

  destroy() {
    this.gzip.destroy();
  }
}

/** Decides where parts end (see the module comment) and hands finished parts to onPart. */
class Cutter {
  private part: PartWriter | undefined;
  private count = 0;
  private records = 0;
  private forcedCuts = 0;
  /** endLine of the last record committed (the header's last line before any record). */
  private lastLine: number;
  private readonly groups: OpenGroups | undefined;
  /** Seeking a cut: groups open at the candidate cut (before the pending records) that have not closed yet. */
  private blocking = new Set<string>();
  private pending: SplitRecord[] = [];
  private pendingBytes = 0;
  private seeking = false;
  /** Over the size limit: cut before the next row that joins no open group. */
  private mustCut = false;
  private inflight: Promise<void> = Promise.resolve();
  private readonly maxBytes: number;
  /** Cut even before a row of an open group (one group interleaved with everything). */
  private readonly hardMaxBytes: number;

  constructor(
    private readonly options: SplitOptions,
    private readonly header: Buffer,
    private readonly headerLines: number,
  ) {
    this.lastLine = headerLines;
    this.groups = options.rule ? new OpenGroups(options.rule.windowRows) : undefined;
    const overflow = options.overflow ?? 0.25;
    this.maxBytes = options.partBytes * (1 + overflow);
    this.hardMaxBytes = options.partBytes * (1 + 2 * overflow);
  }

  /** Synchronous unless a part is finished or the gzip stream needs to drain: then await the promise before the next push. */
  push(record: SplitRecord): Promise<void> | undefined {
    this.records += 1;
    // Joins an open group from before the candidate cut: the cut moves after this row.
    const conflict = record.key !== undefined && this.blocking.has(record.key);
    const closed = this.groups?.add(record.key);
    if (this.mustCut && !conflict) {
      this.pending.push(record);
      return this.cut(true);
    }
    if (this.seeking && !conflict) {
      this.pending.push(record);
      this.pendingBytes += record.bytes.length;
      for (const key of closed ?? []) this.blocking.delete(key);
      if (this.blocking.size === 0) return this.cut(false);
      if (this.current().bytes + this.pendingBytes >= this.maxBytes) return this.cut(true);
      return undefined;
    }
    if (this.pending.length > 0) return this.commitPending().then(() => this.commitThenCheck(record));
    return this.commitThenCheck(record);
  }

  private commitThenCheck(record: SplitRecord): Promise<void> | undefined {
    const drained = this.commit(record);
    return drained ? drained.then(() => this.checkSize()) : this.checkSize();
  }

  /** After a commit: start seeking a cut once the part is large enough. */
  private checkSize(): Promise<void> | undefined {
    const bytes = this.current().bytes;
    if (bytes < this.options.partBytes) return undefined;
    if (!this.groups) return this.cut(false);
    this.seeking = true;
    this.blocking = new Set(this.groups.open.keys());
    if (this.blocking.size === 0) return this.cut(false);
    // Too long waiting for the open groups to close: cut where no row of an open group follows at once.
    if (bytes >= this.maxBytes) this.mustCut = true;
    if (bytes >= this.hardMaxBytes) return this.cut(true);
    return undefined;
  }

  /** Bytes after the last record (blank lines, a malformed record): they stay with the last part. */
  async appendTail(bytes: Buffer) {
    await this.commitPending();
    await this.current().write(bytes, false);
  }

  async finish(): Promise<Pick<SplitSummary, 'records' | 'parts' | 'forcedCuts'>> {
    await this.commitPending();
    if (this.part) await this.emit();
    await this.inflight;
    return { records: this.records, parts: this.count, forcedCuts: this.forcedCuts };
  }

  async abort() {
    this.part?.destroy();
    await this.inflight.catch(() => undefined);
  }

  private current(): PartWriter {
    if (!this.part) {
      this.count += 1;
      this.part = new PartWriter(this.count, this.lastLine - this.headerLines, this.header);
    }
    return this.part;
  }

  private commit(record: SplitRecord): Promise<void> | undefined {
    // current() first: a new part's line offset is the line its first record follows.
    const part = this.current();
    this.lastLine = record.endLine;
    return part.write(record.bytes, true);
  }

  private async commitPending() {
    const pending = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    for (const record of pending) await this.commit(record);
  }

  /** Ends the current part before the pending records, which start the next one. */
  private async cut(forced: boolean) {
    if (forced) this.forcedCuts += 1;
    this.seeking = false;
    this.mustCut = false;
    this.blocking.clear();
    await this.emit(forced);
    const pending = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    for (const record of pending) await this.commit(record);
  }

  private async emit(forced = false) {
    const part = this.part as PartWriter;
    this.part = undefined;
    const { body, sha256 } = await part.close();
    const out: SplitPart = {
      number: part.number,
      body,
      bytes: part.bytes,
      records: part.records,
      lineOffset: part.lineOffset,
      firstLine: part.lineOffset + this.headerLines + 1,
      sha256,
      forced,
    };
    // One upload in flight while the next part is cut.
    await this.inflight;
    this.inflight = this.options.onPart(out);
    this.inflight.catch(() => undefined);
  }
}

/** Resolves on 'drain' (or when the stream closes, so a destroyed stream never hangs the writer). */
function drainOrClose(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}
