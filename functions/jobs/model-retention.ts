import { z } from 'zod';
import { s3Client } from '../../shared/aws/clients';
import { appConfig, numberEnv } from '../../shared/config/env';
import { zodIssues } from '../../shared/http/validation';
import { jobHandler } from '../../shared/observability/job';
import { logger, metrics } from '../../shared/observability/powertools';
import { ModelRegistry, type RetentionReport } from '../../shared/registry/registry';
import { S3ObjectStore } from '../../shared/storage/s3-object-store';

const config = appConfig();
const registry = new ModelRegistry(new S3ObjectStore(s3Client(), config.dataBucket));
const defaults = {
  keepLast: numberEnv('MODEL_RETENTION_KEEP_LAST', 10),
  keepDays: numberEnv('MODEL_RETENTION_KEEP_DAYS', 30),
};

/** The schedule's input (or a manual invocation): every field optional; other fields (source, …) are ignored. */
const eventSchema = z.object({
  families: z.array(z.string().min(1, 'must not be empty')).optional(),
  keepLast: z.number({ message: 'must be a number' }).int('must be an integer').min(0, 'must be ≥ 0').optional(),
  keepDays: z.number({ message: 'must be a number' }).min(0, 'must be ≥ 0').optional(),
  aliasGraceDays: z.number({ message: 'must be a number' }).min(0, 'must be ≥ 0').optional(),
  dryRun: z.boolean({ message: 'must be true or false' }).optional(),
});

/** Scheduled clean-up of old model versions by the retention rule (shared/registry/retention.ts). */
export const handler = jobHandler(async (event: unknown): Promise<{ reports: RetentionReport[] }> => {
  const parsed = eventSchema.safeParse(event ?? {});
  if (!parsed.success)
    throw new Error(
      `Invalid retention request: ${zodIssues(parsed.error)
        .map((i) => `${i.field}: ${i.reason}`)
        .join('; ')}`,
    );
  const request = parsed.data;
  const families = request.families ?? (await registry.listFamilies());
  const reports: RetentionReport[] = [];
  for (const family of families) {
    const champion = (await registry.getAlias(family, 'champion'))?.version ?? 'none';
    const report = await registry.applyRetention(family, {
      keepLast: request.keepLast ?? defaults.keepLast,
      keepDays: request.keepDays ?? defaults.keepDays,
      ...(request.aliasGraceDays !== undefined ? { aliasGraceDays: request.aliasGraceDays } : {}),
      dryRun: request.dryRun ?? false,
    });
    for (const version of report.deleted) logger.info('model version deleted', { family, modelVersion: version, dryRun: report.dryRun });
    for (const version of report.skipped) logger.warn('model version kept: an alias moved to it during clean-up', { family, modelVersion: version });
    // singleMetric flushes (and clears its dimensions) on every addMetric: one instance per metric.
    const emit = (name: string, value: number) => {
      const metric = metrics.singleMetric();
      metric.addDimensions({ family, modelVersion: champion });
      metric.addMetric(name, 'Count', value);
    };
    emit('ModelVersionsDeleted', report.deleted.length + report.orphansDeleted.length);
    emit('ModelVersionsKept', report.kept.length);
    metrics.addMetric('ModelRetentionFamilies', 'Count', 1);
    logger.info('model retention applied', {
      family,
      modelVersion: champion,
      kept: report.kept.length,
      deleted: report.deleted,
      orphansDeleted: report.orphansDeleted,
      objectsDeleted: report.objectsDeleted,
      dryRun: report.dryRun,
    });
    reports.push(report);
  }
  return { reports };
});
