import type { S3Event } from 'aws-lambda';
import { catalogRuntime } from '../../shared/catalog/runtime';
import { CATALOG_IMPORTS_PREFIX, type CatalogImportReport, importCatalog } from '../../shared/catalog/service';
import type { CatalogPointer } from '../../shared/catalog/snapshot';
import { jobHandler } from '../../shared/observability/job';
import { logger, metrics } from '../../shared/observability/powertools';

type CatalogJobEvent = Partial<S3Event> & { source?: string; force?: boolean };

/** S3 keys arrive URL-encoded with '+' for spaces. */
const decodeKey = (key: string) => decodeURIComponent(key.replace(/\+/g, ' '));

/**
 * The catalogue job. On an upload under imports/catalog/ (NDJSON, optionally gzipped) it imports the
 * items and rebuilds the serving snapshot; on its schedule it folds PUT /v1/items deltas into a new
 * snapshot when there are any (or always with `force`).
 */
export const handler = jobHandler(async (event: CatalogJobEvent): Promise<{ imports: CatalogImportReport[]; snapshot?: CatalogPointer }> => {
  const rt = catalogRuntime();
  const imports: CatalogImportReport[] = [];
  for (const record of event.Records ?? []) {
    const key = decodeKey(record.s3.object.key);
    if (!key.startsWith(CATALOG_IMPORTS_PREFIX)) {
      logger.warn('ignored an upload outside the catalogue prefix', { key });
      continue;
    }
    const report = await importCatalog(rt, key);
    metrics.addMetric('CatalogItemsImported', 'Count', report.upserted);
    metrics.addMetric('CatalogImportRejectedRows', 'Count', report.rejected);
    logger.info('catalogue file imported', {
      key,
      upserted: report.upserted,
      stale: report.stale,
      rejected: report.rejected,
      catalogVersion: report.snapshot?.version,
    });
    imports.push(report);
  }
  if (event.Records?.length) return { imports };
  if (!event.force && !(await rt.snapshots.isStale())) {
    logger.info('catalogue snapshot is current; nothing to rebuild');
    return { imports };
  }
  const snapshot = await rt.snapshots.rebuild(rt.repository);
  logger.info('catalogue snapshot rebuilt', { catalogVersion: snapshot.version, items: snapshot.items });
  return { imports, snapshot };
});
