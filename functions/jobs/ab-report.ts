import { s3Client } from '../../shared/aws/clients';
import { numberEnv, requireEnv } from '../../shared/config/env';
import { defaultReportDay, runAbReport } from '../../shared/ab/report';
import { jobHandler } from '../../shared/observability/job';
import { logger, metrics } from '../../shared/observability/powertools';
import { S3ObjectStore } from '../../shared/storage/s3-object-store';

type AbReportEvent = { day?: string; source?: string };

/**
 * Daily A/B report (click and purchase rates per variant, see shared/ab/report.ts for the attribution
 * rule). By default it reports the latest day whose attribution window has closed; `{"day": "YYYY-MM-DD"}`
 * reruns a day (the report is overwritten: safe to retry).
 */
export const handler = jobHandler(async (event: AbReportEvent) => {
  const blobs = new S3ObjectStore(s3Client(), requireEnv('DATA_BUCKET'));
  const attributionHours = numberEnv('AB_ATTRIBUTION_HOURS', 24);
  if (event?.day !== undefined && !(/^\d{4}-\d{2}-\d{2}$/.test(event.day) && !Number.isNaN(Date.parse(event.day)))) {
    throw new Error(`day: must be a date YYYY-MM-DD, got ${JSON.stringify(event.day)}`);
  }
  const day = event?.day ?? defaultReportDay(new Date(), attributionHours);
  const { key, report } = await runAbReport(blobs, { day, attributionHours });
  for (const variant of ['champion', 'challenger'] as const) {
    metrics.addMetric(`AbLists_${variant}`, 'Count', report.variants[variant].lists);
  }
  logger.info('A/B report written', { key, day, champion: report.variants.champion, challenger: report.variants.challenger });
  return { key, day, variants: report.variants, comparison: report.comparison };
});
