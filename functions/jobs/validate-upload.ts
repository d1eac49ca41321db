import type { S3Event } from 'aws-lambda';
import { s3Client } from '../../shared/aws/clients';
import { appConfig, numberEnv } from '../../shared/config/env';
import { jobHandler } from '../../shared/observability/job';
import { logger, metrics } from '../../shared/observability/powertools';
import { gatePolicyFromEnv } from '../../shared/training/policy';
import { ModelRegistry } from '../../shared/registry/registry';
import { DEFAULT_MAX_MODEL_BYTES, latestHoldout, type UploadReport, validateUpload } from '../../shared/training/upload';
import { S3ObjectStore } from '../../shared/storage/s3-object-store';

const config = appConfig();
const objects = new S3ObjectStore(s3Client(), config.dataBucket);
const registry = new ModelRegistry(objects);
const maxModelBytes = numberEnv('UPLOAD_MAX_MODEL_BYTES', DEFAULT_MAX_MODEL_BYTES);
// Validated at cold start: a bad GATE_POLICY fails every invocation with the field named.
gatePolicyFromEnv();

/** S3 keys arrive URL-encoded with '+' for spaces. */
const decodeKey = (key: string) => decodeURIComponent(key.replace(/\+/g, ' '));

/**
 * Bring your own ONNX: triggered by a manifest under uploads/models/<family>/<name>.json (the .onnx goes
 * first). Registers the model as `challenger` or writes a rejection report (shared/training/upload.ts).
 */
export const handler = jobHandler(async (event: S3Event): Promise<UploadReport[]> => {
  const reports: UploadReport[] = [];
  for (const record of event.Records ?? []) {
    const key = decodeKey(record.s3.object.key);
    const report = await validateUpload(
      { registry, objects, maxModelBytes, loadHoldout: () => latestHoldout(objects, objects), policyFor: (family) => gatePolicyFromEnv(family) },
      key,
    );
    const modelVersion = report.version ?? 'none';
    logger.appendKeys({ modelVersion, family: report.family ?? 'unknown' });
    // One EMF record per upload, with the version as a dimension (singleMetric flushes at once).
    const metric = metrics.singleMetric();
    metric.addDimensions({ family: report.family ?? 'unknown', modelVersion });
    metric.addMetric(report.status === 'accepted' ? 'ModelUploadsAccepted' : 'ModelUploadsRejected', 'Count', 1);
    metrics.addMetric('ModelUploadsValidated', 'Count', 1);
    const log = report.status === 'accepted' ? logger.info.bind(logger) : logger.warn.bind(logger);
    log(report.status === 'accepted' ? 'uploaded model registered as challenger' : 'uploaded model rejected', {
      key,
      name: report.name,
      reportKey: report.reportKey,
      reasons: report.reasons,
      cases: report.evaluation?.cases,
      metrics: report.evaluation?.model,
      alreadyRegistered: report.alreadyRegistered,
    });
    reports.push(report);
  }
  return reports;
});
