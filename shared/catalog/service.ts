import { createInterface } from 'node:readline';
import type { FieldIssue } from '../http/errors';
import type { ObjectStore } from '../storage/object-store';
import { type CatalogItem, type CatalogItemInput, validateItem } from './item';
import type { CatalogRepository } from './repository';
import type { CatalogPointer, CatalogSnapshots } from './snapshot';

export const CATALOG_IMPORTS_PREFIX = 'imports/catalog/';
export const CATALOG_IMPORT_REPORTS_PREFIX = 'import-reports/catalog/';
const IMPORT_CHUNK = 500;

export interface CatalogDeps {
  repository: CatalogRepository;
  snapshots: CatalogSnapshots;
}

export interface RejectedItem {
  index: number;
  itemId?: string;
  issues: FieldIssue[];
}

export interface UpsertSummary {
  upserted: number;
  /** Skipped because a newer version of the item is stored (late retries / replays). */
  stale: number;
  rejected: RejectedItem[];
  items: CatalogItem[];
}

/**
 * Validates and upserts a batch: invalid items are rejected one by one (field + reason) and never
 * hold back the valid ones. Two entries for one item in a batch are merged in order (later fields win)
 * so they cannot race each other.
 */
export async function upsertItems(repository: CatalogRepository, raw: readonly unknown[], now: Date, indexOffset = 0): Promise<UpsertSummary> {
  const rejected: RejectedItem[] = [];
  const merged = new Map<string, { input: CatalogItemInput; indices: number[] }>();
  raw.forEach((value, i) => {
    const checked = validateItem(value);
    if (!checked.ok) {
      rejected.push({ index: indexOffset + i, ...(checked.itemId ? { itemId: checked.itemId } : {}), issues: checked.issues });
      return;
    }
    const existing = merged.get(checked.item.itemId);
    if (existing) {
      existing.input = { ...existing.input, ...checked.item };
      existing.indices.push(indexOffset + i);
    } else merged.set(checked.item.itemId, { input: checked.item, indices: [indexOffset + i] });
  });
  const entries = [...merged.values()];
  const outcomes = await repository.upsertMany(
    entries.map((e) => e.input),
    now,
  );
  const summary: UpsertSummary = { upserted: 0, stale: 0, rejected, items: [] };
  outcomes.forEach((outcome, n) => {
    if (outcome.status === 'upserted') {
      summary.upserted += 1;
      summary.items.push(outcome.item);
    } else if (outcome.status === 'stale') summary.stale += 1;
    else for (const index of entries[n]?.indices ?? []) rejected.push({ index, itemId: outcome.itemId, issues: outcome.issues });
  });
  rejected.sort((a, b) => a.index - b.index);
  return summary;
}

/** PUT /v1/items: upsert, then publish the changed items as a delta serving picks up within its TTL. */
export async function putItems(deps: CatalogDeps, raw: readonly unknown[], now = new Date()) {
  const summary = await upsertItems(deps.repository, raw, now);
  const delta = await deps.snapshots.writeDelta(summary.items, now.getTime());
  return { upserted: summary.upserted, stale: summary.stale, rejected: summary.rejected, ...(delta ? { delta } : {}) };
}

export interface CatalogImportReport {
  key: string;
  lines: number;
  upserted: number;
  stale: number;
  rejected: number;
  /** Row-level errors (first 1000), by 1-based line number. */
  errors: { line: number; itemId?: string; issues: FieldIssue[] }[];
  snapshot?: Pick<CatalogPointer, 'version' | 'items'>;
  finishedAt: string;
}

export const catalogReportKey = (key: string) => `${CATALOG_IMPORT_REPORTS_PREFIX}${key.slice(CATALOG_IMPORTS_PREFIX.length)}.report.json`;

/**
 * Bulk catalogue upload (NDJSON, one item per line, optionally gzipped), streamed in chunks: bad lines
 * are reported with their line number, good ones stored; then the serving snapshot is rebuilt. A second
 * upload of the same file re-applies the same values (or is skipped as stale when items carry updatedAt).
 */
export async function importCatalog(deps: CatalogDeps & { blobs: ObjectStore }, key: string, now = () => new Date()): Promise<CatalogImportReport> {
  const report: CatalogImportReport = { key, lines: 0, upserted: 0, stale: 0, rejected: 0, errors: [], finishedAt: '' };
  const addError = (line: number, issues: FieldIssue[], itemId?: string) => {
    report.rejected += 1;
    if (report.errors.length < 1000) report.errors.push({ line, ...(itemId ? { itemId } : {}), issues });
  };
  let chunk: { line: number; value: unknown }[] = [];
  const flush = async () => {
    if (chunk.length === 0) return;
    const rows = chunk;
    chunk = [];
    const summary = await upsertItems(
      deps.repository,
      rows.map((r) => r.value),
      now(),
    );
    report.upserted += summary.upserted;
    report.stale += summary.stale;
    for (const r of summary.rejected) addError(rows[r.index]?.line ?? 0, r.issues, r.itemId);
  };
  const lines = createInterface({ input: await deps.blobs.getStream(key), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const text of lines) {
    report.lines += 1;
    if (text.trim() === '') continue;
    try {
      chunk.push({ line: report.lines, value: JSON.parse(text) });
    } catch (error) {
      addError(report.lines, [{ field: '(line)', reason: `malformed JSON: ${(error as Error).message}` }]);
    }
    if (chunk.length >= IMPORT_CHUNK) await flush();
  }
  await flush();
  const pointer = await deps.snapshots.rebuild(deps.repository);
  report.snapshot = { version: pointer.version, items: pointer.items };
  report.finishedAt = now().toISOString();
  await deps.blobs.putJson(catalogReportKey(key), report);
  return report;
}
