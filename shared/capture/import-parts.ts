/**
 * Bulk event imports that fit Lambda's 15 minutes whatever the file size (functions/jobs/import-events.ts).
 *
 * A file under imports/events/ no larger than `partBytes` (uncompressed; a .gz counts its size × `gzipRatio`)
 * is imported in one pass (importFile). A larger one is split:
 *  1. one invocation reads it ONCE (import-split.ts): parts are cut at record boundaries and written to
 *     imports/staging/<object id>/ (no trigger), while the content is hashed;
 *  2. the content hash is claimed in the import ledger (content already imported: nothing else happens);
 *  3. the parts are copied (server side) to imports/parts/<source>/<content sha256>/part-NNNNN.<fmt>.gz
 *     with their metadata (original key, part number, total parts, first line, line offset): each copy
 *     triggers one import of that part (fan-out: parts run in parallel), whose report counts lines of
 *     the ORIGINAL file;
 *  4. each finished part records its outcome on the file's progress item; the one that completes the set
 *     writes the summary report of the original (import-reports/events/…report.json) and closes the ledger.
 * Retries are safe at every step: the split of one object version is leased (IMPORTOBJ#…), staging and
 * part keys and bytes are deterministic, a part's import is claimed by its content and position, and an
 * outcome is recorded once (if_not_exists).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { numberEnv } from '../config/env';
import type { FieldIssue } from '../http/errors';
import { zodIssues } from '../http/validation';
import { type ObjectInfo, ObjectNotFoundError } from '../storage/object-store';
import {
  type Claim,
  EVENT_IMPORTS_PREFIX,
  type ImportDeps,
  ImportLedger,
  type ImportReport,
  importFile,
  importFormat,
  importReportKey,
  isGzipError,
  LEASE_MS,
  MAX_REPORTED_ERRORS,
  newImportReport,
  PART_IMPORTS_PREFIX,
  type PartOutcome,
  refuseImport,
  type SplitInfo,
  writeFileError,
} from './import';
import { type ImportFormat, type SplitPart, type SplitSummary, splitStream } from './import-split';
import { mappingFor, type SourceMapping } from './mappings/index';

/** Parts are staged here (no S3 trigger) until the file's content is claimed. */
export const STAGING_PREFIX = 'imports/staging/';
/** Measured (import bench, 1 GiB): one 32 MiB part = 415,177 rows imported end to end on dynalite in 117 s of Lambda's 900. */
export const DEFAULT_PART_BYTES = 32 * 1024 * 1024;
/** Uncompressed/compressed size assumed for a .gz when deciding to split (the Online Retail II CSV: 6.3). */
export const DEFAULT_GZIP_RATIO = 10;
/** Lambda retries an asynchronous event for up to 6 hours: a split file's parts get that long before a re-upload may re-dispatch them. */
const HAND_OVER_MS = 6 * 3600 * 1000;
/** A split stops (and fails, to be retried) rather than being killed by the Lambda timeout mid-way. */
const DEADLINE_MARGIN_MS = 30_000;
/** Split-stage errors kept on the progress item (the count is always kept). */
const MAX_SPLIT_ERRORS = 100;
const COPY_CONCURRENCY = 4;

export interface ImportSettings {
  /** Files larger than this (uncompressed bytes) are split into parts of about this size. */
  partBytes: number;
  gzipRatio: number;
}

/** IMPORT_PART_BYTES and IMPORT_GZIP_RATIO, checked once at start. */
export function importSettings(env: NodeJS.ProcessEnv = process.env): ImportSettings {
  const partBytes = numberEnv('IMPORT_PART_BYTES', DEFAULT_PART_BYTES, env);
  if (!Number.isInteger(partBytes) || partBytes < 1024)
    throw new Error(`Environment variable IMPORT_PART_BYTES must be an integer ≥ 1024, got "${env.IMPORT_PART_BYTES}"`);
  const gzipRatio = numberEnv('IMPORT_GZIP_RATIO', DEFAULT_GZIP_RATIO, env);
  if (!(gzipRatio >= 1)) throw new Error(`Environment variable IMPORT_GZIP_RATIO must be a number ≥ 1, got "${env.IMPORT_GZIP_RATIO}"`);
  return { partBytes, gzipRatio };
}

/** What a split import needs besides a file import's deps: its settings (S3 through deps.blobs: head, copy, delete). */
export type ObjectImportDeps = ImportDeps & ImportSettings;

/** The S3 object an event names (size, eTag and versionId as the notification gives them). */
export interface ImportObject {
  key: string;
  size?: number | undefined;
  eTag?: string | undefined;
  versionId?: string | undefined;
}

export interface ImportRunOptions {
  /** Epoch ms when the invocation ends (Lambda deadline). */
  deadline?: number;
}

/** The object an event names must exist (a missing one fails the invocation, as S3's HeadObject does). */
async function headOf(deps: Pick<ImportDeps, 'blobs'>, key: string): Promise<ObjectInfo> {
  const head = await deps.blobs.head(key);
  if (!head) throw new ObjectNotFoundError(key);
  return head;
}

const pad = (n: number) => String(n).padStart(5, '0');
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export const partKey = (source: string, contentSha256: string, part: number, format: ImportFormat) =>
  `${PART_IMPORTS_PREFIX}${source || '_'}/${contentSha256}/part-${pad(part)}.${format}.gz`;
const stagingKey = (objectId: string, part: number, format: ImportFormat) => `${STAGING_PREFIX}${objectId}/part-${pad(part)}.${format}.gz`;

/**
 * Imports the object an S3 event names: a part (imports/parts/), or an event file (imports/events/),
 * split into parts when it is larger than `partBytes`. Returns the report of what this call did.
 */
export async function importObject(deps: ObjectImportDeps, object: ImportObject, options: ImportRunOptions = {}): Promise<ImportReport> {
  const { key } = object;
  if (key.startsWith(PART_IMPORTS_PREFIX)) return importPart(deps, key, options);
  if (!key.startsWith(EVENT_IMPORTS_PREFIX))
    return writeFileError(
      deps,
      newImportReport(deps, key),
      'key',
      `must start with ${EVENT_IMPORTS_PREFIX} (event files) or ${PART_IMPORTS_PREFIX} (their parts)`,
    );
  const head = object.size === undefined || (object.eTag === undefined && object.versionId === undefined) ? await headOf(deps, key) : undefined;
  const size = object.size ?? head?.size ?? 0;
  const estimated = key.endsWith('.gz') ? size * deps.gzipRatio : size;
  if (estimated <= deps.partBytes) return importFile(deps, key, options);
  return splitImport(deps, { key, size, eTag: object.eTag ?? head?.etag, versionId: object.versionId ?? head?.versionId }, options);
}

interface StagedPart {
  number: number;
  stagingKey: string;
  firstLine: number;
  lineOffset: number;
  records: number;
  sha256: string;
}

async function splitImport(deps: ObjectImportDeps, object: ImportObject, options: ImportRunOptions): Promise<ImportReport> {
  const { key } = object;
  const report = newImportReport(deps, key);
  const mapping = (deps.mappingFor ?? mappingFor)(report.source);
  const refusal = refuseImport(key, report.source, mapping);
  if (refusal) return writeFileError(deps, report, refusal.field, refusal.reason);
  const format = importFormat(key) as ImportFormat;
  // One split per object version: a duplicate notification of a live or finished split does nothing.
  const objectId = sha256(`${key}\n${object.versionId ?? ''}\n${object.eTag ?? ''}`);
  const splits = new ImportLedger(deps.profiles.table, 'import-split');
  const contents = new ImportLedger(deps.profiles.table);
  const lease = () => options.deadline ?? Date.now() + LEASE_MS;
  const objectClaim = await splits.claim(objectId, key, new Date(), lease());
  if (objectClaim.state !== 'claimed') {
    report.contentSha256 = String(objectClaim.summary?.contentSha256 ?? '');
    return markSkipped(report, objectClaim);
  }

  const staged: StagedPart[] = [];
  let claimedContent: string | undefined;
  try {
    let split: SplitSummary;
    try {
      split = await stageParts(deps, { key, format, mapping, objectId, staged, deadline: options.deadline, heartbeat: () => splits.heartbeat(objectId) });
    } catch (error) {
      if (!isGzipError(error)) throw error;
      await removeStaged(deps, staged);
      await splits.finish(objectId, { refused: '(file)' });
      return writeFileError(deps, report, '(file)', `is not a valid gzip file: ${(error as Error).message}`);
    }
    if (split.headerIssue) {
      await splits.finish(objectId, { refused: '(header)' });
      return writeFileError(deps, report, split.headerIssue.field, split.headerIssue.reason, 1);
    }
    report.contentSha256 = split.sha256;
    const claim = await contents.claim(split.sha256, key, new Date(), lease());
    if (claim.state !== 'claimed') {
      markSkipped(report, claim);
      // As importFile: the first import's report stays; a copy under another key gets its own note.
      if (claim.state === 'done' && claim.key !== key) await deps.blobs.putJson(importReportKey(key), report);
      await removeStaged(deps, staged);
      await splits.finish(objectId, { contentSha256: split.sha256, skipped: report.skipped });
      return report;
    }
    claimedContent = split.sha256;
    const result = await handOver(deps, { report, split, staged, format, contents, deadline: options.deadline });
    claimedContent = undefined;
    // Best effort: the parts are handed over; a staging object left behind is only a copy.
    await removeStaged(deps, staged).catch(() => undefined);
    await splits.finish(objectId, { contentSha256: split.sha256, parts: staged.length });
    return result;
  } catch (error) {
    await splits.fail(objectId, error).catch(() => undefined);
    if (claimedContent) await contents.fail(claimedContent, error).catch(() => undefined);
    throw error;
  }
}

/** This call imports nothing: the object or its content is (being) imported already. */
function markSkipped(report: ImportReport, claim: Exclude<Claim, { state: 'claimed' }>): ImportReport {
  report.skipped = claim.state === 'done' ? 'duplicate' : 'in-progress';
  report.duplicateOf = claim.key;
  report.finishedAt = new Date().toISOString();
  return report;
}

/** Reads the upload once, writing each part under imports/staging/ as it is cut (no trigger there). */
async function stageParts(
  deps: ObjectImportDeps,
  run: {
    key: string;
    format: ImportFormat;
    mapping: SourceMapping | undefined;
    objectId: string;
    staged: StagedPart[];
    deadline: number | undefined;
    heartbeat: () => Promise<void>;
  },
): Promise<SplitSummary> {
  const { key, format, mapping, staged } = run;
  const started = Date.now();
  return splitStream(await deps.blobs.getStream(key), {
    format,
    partBytes: deps.partBytes,
    rule: mapping?.split,
    ...(format === 'csv' && mapping ? { header: { required: mapping.requiredColumns, mapping: mapping.source } } : {}),
    onPart: async (part: SplitPart) => {
      checkDeadline(run.deadline, () => `split of ${key}: ${staged.length} parts written in ${Math.round((Date.now() - started) / 1000)} s`);
      const staging = stagingKey(run.objectId, part.number, format);
      await deps.blobs.put(staging, part.body, { contentType: 'application/gzip' });
      const { number, firstLine, lineOffset, records, sha256: partSha } = part;
      staged.push({ number, stagingKey: staging, firstLine, lineOffset, records, sha256: partSha });
      if (run.deadline === undefined) await run.heartbeat();
    },
  });
}

/** Records the plan, writes the interim report, then copies the staged parts where they trigger their imports. */
async function handOver(
  deps: ObjectImportDeps,
  run: { report: ImportReport; split: SplitSummary; staged: StagedPart[]; format: ImportFormat; contents: ImportLedger; deadline: number | undefined },
): Promise<ImportReport> {
  const { report, split, staged, format, contents } = run;
  const sha = split.sha256;
  const reportKey = importReportKey(report.key);
  const splitRejected = split.errors.length;
  report.lines = split.records;
  if (staged.length === 0) {
    // A header and nothing else: nothing to import.
    report.rejected = splitRejected;
    report.errors = split.errors.slice(0, MAX_REPORTED_ERRORS);
    report.finishedAt = new Date().toISOString();
    await deps.blobs.putJson(reportKey, report);
    await contents.finish(sha, { accepted: 0, rejected: report.rejected, reportKey });
    return report;
  }
  const info: SplitInfo = {
    parts: staged.length,
    partBytes: deps.partBytes,
    partsPrefix: `${PART_IMPORTS_PREFIX}${report.source || '_'}/${sha}/`,
    forcedCuts: split.forcedCuts,
  };
  await new PartProgress(deps).init(sha, {
    originalKey: report.key,
    reportKey,
    source: report.source,
    format,
    ...(report.mapping ? { mapping: report.mapping } : {}),
    startedAt: report.startedAt,
    split: info,
    splitErrors: split.errors.slice(0, MAX_SPLIT_ERRORS),
    splitRejected,
  });
  // Written before any part exists, so it never overwrites the summary the last part writes.
  const interim: ImportReport = {
    ...report,
    status: 'importing',
    split: info,
    rejected: splitRejected,
    errors: split.errors.slice(0, MAX_REPORTED_ERRORS),
    finishedAt: '',
  };
  await deps.blobs.putJson(reportKey, interim);
  const copies = staged.map((part) => async () => {
    checkDeadline(run.deadline, () => `hand-over of ${report.key}: copying ${staged.length} parts`);
    // The copy carries the part's metadata and is what triggers the part's import.
    await deps.blobs.copy(part.stagingKey, partKey(report.source, sha, part.number, format), {
      contentType: 'application/gzip',
      metadata: {
        'original-key': encodeURIComponent(report.key),
        source: encodeURIComponent(report.source),
        'content-sha256': sha,
        part: String(part.number),
        parts: String(staged.length),
        'first-line': String(part.firstLine),
        'line-offset': String(part.lineOffset),
        records: String(part.records),
        'part-sha256': part.sha256,
      },
    });
  });
  await runLimited(copies, COPY_CONCURRENCY);
  await contents.handOver(sha, Date.now() + HAND_OVER_MS, { parts: staged.length, reportKey });
  return interim;
}

const partName = (part: number) => `p${pad(part)}`;

const count = z
  .string()
  .regex(/^\d{1,12}$/, 'must be a non-negative integer')
  .transform(Number);
const encoded = z.string().transform((value, ctx) => {
  try {
    return decodeURIComponent(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be URI-encoded' });
    return z.NEVER;
  }
});
/** The metadata handOver puts on each part (S3 lower-cases user metadata names). */
const partMetadataSchema = z.object({
  'original-key': encoded,
  source: encoded,
  'content-sha256': z.string().regex(/^[0-9a-f]{64}$/, 'must be a sha256 in hex'),
  part: count.refine((n) => n >= 1, 'must be ≥ 1'),
  parts: count.refine((n) => n >= 1, 'must be ≥ 1'),
  'first-line': count.refine((n) => n >= 1, 'must be ≥ 1'),
  'line-offset': count,
  records: count,
});
export type PartMetadata = z.output<typeof partMetadataSchema>;

export function parsePartMetadata(key: string, metadata: Record<string, string>): { metadata: PartMetadata } | { issues: FieldIssue[] } {
  const parsed = partMetadataSchema.safeParse(metadata);
  if (!parsed.success) return { issues: zodIssues(parsed.error).map((i) => ({ field: `metadata.${i.field}`, reason: i.reason })) };
  const m = parsed.data;
  const format = importFormat(key);
  if (m.part > m.parts) return { issues: [{ field: 'metadata.part', reason: `must be ≤ metadata.parts (${m.parts})` }] };
  if (!format || partKey(m.source, m['content-sha256'], m.part, format) !== key)
    return {
      issues: [
        {
          field: 'key',
          reason: `does not match its metadata (expected ${format ? partKey(m.source, m['content-sha256'], m.part, format) : 'a .csv.gz or .ndjson.gz part'})`,
        },
      ],
    };
  return { metadata: m };
}

/** Imports one part (lines counted in the original file), records its outcome, and writes the summary when it is the last. */
export async function importPart(deps: ObjectImportDeps, key: string, options: ImportRunOptions = {}): Promise<ImportReport> {
  const parsed = parsePartMetadata(key, (await headOf(deps, key)).metadata ?? {});
  if ('issues' in parsed) {
    const report = newImportReport(deps, key);
    report.rejected = 1;
    report.errors.push({ line: 0, issues: parsed.issues });
    report.finishedAt = new Date().toISOString();
    await deps.blobs.putJson(importReportKey(key), report);
    return report;
  }
  const meta = parsed.metadata;
  const offset = meta['line-offset'];
  const report = await importFile(deps, key, {
    lineOffset: offset,
    // A part is the same import as another only with the same content at the same place in its file.
    ledgerId: (contentSha) => `${contentSha}@${offset}`,
    source: meta.source,
    captureSource: `import:${meta['original-key']}`,
    ...(options.deadline !== undefined ? { deadline: options.deadline } : {}),
  });
  // A live import of this same part records its own outcome.
  if (report.skipped === 'in-progress') return report;
  // A re-delivery of this part: its outcome is the report its first import wrote.
  const done =
    report.skipped === 'duplicate' && report.duplicateOf === key ? ((await deps.blobs.getJson<ImportReport>(importReportKey(key))) ?? report) : report;
  const outcome: PartOutcome = {
    part: meta.part,
    key,
    reportKey: importReportKey(key),
    firstLine: meta['first-line'],
    lines: done.skipped ? meta.records : done.lines,
    messages: done.messages,
    accepted: done.accepted,
    duplicates: done.duplicates,
    rejected: done.rejected,
    ...(done.skipped === 'duplicate' ? { skipped: 'duplicate' as const, duplicateOf: done.duplicateOf ?? '' } : {}),
  };
  const progress = await new PartProgress(deps).record(meta['content-sha256'], meta.part, outcome);
  if (progress?.totalParts !== undefined && Object.keys(progress.parts).length >= progress.totalParts)
    await writeSummary(deps, meta['content-sha256'], progress);
  return report;
}

interface ProgressPlan {
  originalKey: string;
  reportKey: string;
  source: string;
  format: ImportFormat;
  mapping?: string;
  startedAt: string;
  split: SplitInfo;
  splitErrors: SplitSummary['errors'];
  splitRejected: number;
}

interface ProgressItem extends ProgressPlan {
  totalParts: number;
  parts: Record<string, PartOutcome>;
}

/** The `import-parts` record of a content hash (shared/profiles/table.ts): the plan of a split file and the outcome of each finished part. */
class PartProgress {
  constructor(private readonly deps: Pick<ImportDeps, 'profiles'>) {}

  async init(sha: string, plan: ProgressPlan): Promise<void> {
    const entries = Object.entries({ ...plan, totalParts: plan.split.parts });
    await this.deps.profiles.table.updateLedger('import-parts', sha, {
      // Outcomes already recorded (a retried hand-over) are kept.
      update: `SET ${entries.map((_, i) => `#a${i} = :v${i}`).join(', ')}, #parts = if_not_exists(#parts, :empty)`,
      names: { ...Object.fromEntries(entries.map(([name], i) => [`#a${i}`, name])), '#parts': 'parts' },
      values: { ...Object.fromEntries(entries.map(([, value], i) => [`:v${i}`, value])), ':empty': {} },
    });
  }

  /** Records a part's outcome once (a re-delivered part does not overwrite it); returns the item after. */
  record(sha: string, part: number, outcome: PartOutcome): Promise<ProgressItem | undefined> {
    return this.deps.profiles.table.updateLedger<ProgressItem>(
      'import-parts',
      sha,
      {
        update: 'SET #parts.#part = if_not_exists(#parts.#part, :outcome)',
        names: { '#parts': 'parts', '#part': partName(part) },
        values: { ':outcome': outcome },
      },
      true,
    );
  }
}

/** The original file's report once every part is done (idempotent: the same outcomes give the same counts). */
async function writeSummary(deps: ObjectImportDeps, sha: string, progress: ProgressItem): Promise<void> {
  const outcomes = Object.values(progress.parts).sort((a, b) => a.part - b.part);
  const errors = [...(progress.splitErrors ?? [])];
  let truncated = (progress.splitRejected ?? 0) > errors.length;
  for (const outcome of outcomes) {
    if (outcome.rejected === 0 || outcome.skipped) continue;
    if (errors.length >= MAX_REPORTED_ERRORS) {
      truncated = true;
      break;
    }
    const part = await deps.blobs.getJson<ImportReport>(outcome.reportKey);
    if (!part) throw new Error(`the report of part ${outcome.part} of ${progress.originalKey} is missing: ${outcome.reportKey}`);
    const room = MAX_REPORTED_ERRORS - errors.length;
    errors.push(...part.errors.slice(0, room));
    if (part.errorsTruncated || part.errors.length > room) truncated = true;
  }
  errors.sort((a, b) => a.line - b.line);
  const sum = (field: 'lines' | 'messages' | 'accepted' | 'duplicates' | 'rejected') => outcomes.reduce((total, o) => total + o[field], 0);
  const summary: ImportReport = {
    key: progress.originalKey,
    source: progress.source,
    format: progress.format,
    ...(progress.mapping ? { mapping: progress.mapping } : {}),
    lines: sum('lines'),
    messages: sum('messages'),
    accepted: sum('accepted'),
    duplicates: sum('duplicates'),
    rejected: sum('rejected') + (progress.splitRejected ?? 0),
    errors,
    errorsTruncated: truncated,
    contentSha256: sha,
    startedAt: progress.startedAt,
    finishedAt: new Date().toISOString(),
    status: 'done',
    split: progress.split,
    parts: outcomes,
  };
  await deps.blobs.putJson(progress.reportKey, summary);
  await new ImportLedger(deps.profiles.table).finish(sha, {
    accepted: summary.accepted,
    rejected: summary.rejected,
    reportKey: progress.reportKey,
    parts: outcomes.length,
  });
}

async function removeStaged(deps: ObjectImportDeps, staged: StagedPart[]): Promise<void> {
  await runLimited(
    staged.map((p) => () => deps.blobs.delete(p.stagingKey)),
    COPY_CONCURRENCY,
  );
}

function checkDeadline(deadline: number | undefined, progress: () => string): void {
  if (deadline === undefined || Date.now() < deadline - DEADLINE_MARGIN_MS) return;
  throw new Error(
    `${progress()}; less than ${DEADLINE_MARGIN_MS / 1000} s left before the Lambda timeout: stopping so a retry can take over (a file this large needs more memory/CPU for importEvents, or to be uploaded in smaller files)`,
  );
}

async function runLimited(tasks: (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const task = tasks[next++] as () => Promise<void>;
      await task();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
}
