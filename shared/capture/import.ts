import { createInterface } from 'node:readline';
import type { FieldIssue } from '../http/errors';
import type { BlobStore } from '../storage/blob';
import { type CaptureDeps, captureBatch } from './service';

export const IMPORTS_PREFIX = 'imports/';
export const IMPORT_REPORTS_PREFIX = 'import-reports/';
const CHUNK = 500;

export interface ImportReport {
  key: string;
  lines: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  /** Row-level errors (first 1000), by 1-based line number. */
  errors: { line: number; issues: FieldIssue[] }[];
  finishedAt: string;
}

/**
 * Imports a bulk NDJSON file (one Segment message per line, optionally gzipped) through the same
 * capture path as the HTTP API, streaming it in chunks. Event ids make a second upload of the same
 * file a no-op: raw objects are rewritten with the same keys and profiles count each event once.
 */
export async function importNdjson(deps: CaptureDeps & { blobs: BlobStore }, key: string): Promise<ImportReport> {
  const report: ImportReport = { key, lines: 0, accepted: 0, duplicates: 0, rejected: 0, errors: [], finishedAt: '' };
  const addError = (line: number, issues: FieldIssue[]) => {
    report.rejected += 1;
    if (report.errors.length < 1000) report.errors.push({ line, issues });
  };
  let chunk: { line: number; message: unknown }[] = [];
  const flush = async () => {
    if (chunk.length === 0) return;
    const batch = chunk;
    chunk = [];
    const result = await captureBatch(deps, { batch: batch.map((row) => row.message) });
    report.accepted += result.accepted;
    report.duplicates += result.duplicates;
    for (const rejected of result.rejected) addError(batch[rejected.index]?.line ?? 0, rejected.issues);
  };
  const lines = createInterface({ input: await deps.blobs.getStream(key), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const text of lines) {
    report.lines += 1;
    if (text.trim() === '') continue;
    try {
      chunk.push({ line: report.lines, message: JSON.parse(text) });
    } catch (error) {
      addError(report.lines, [{ field: '(line)', reason: `malformed JSON: ${(error as Error).message}` }]);
    }
    if (chunk.length >= CHUNK) await flush();
  }
  await flush();
  report.finishedAt = new Date().toISOString();
  await deps.blobs.putJson(`${IMPORT_REPORTS_PREFIX}${key.slice(IMPORTS_PREFIX.length)}.report.json`, report);
  return report;
}
