import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * Module-scope AWS clients, created once per container and reused across invocations.
 * Endpoints come from the SDK's own variables (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_DYNAMODB),
 * which the embedded local stack sets to dynalite and s3rver.
 */
let s3: S3Client | undefined;
let ddb: DynamoDBDocumentClient | undefined;

function usesEmulator(service: 'S3' | 'DYNAMODB'): boolean {
  return Boolean(process.env[`AWS_ENDPOINT_URL_${service}`] ?? process.env.AWS_ENDPOINT_URL);
}

export function s3Client(): S3Client {
  if (!s3) {
    const local = usesEmulator('S3');
    s3 = new S3Client({
      forcePathStyle: local || process.env.S3_FORCE_PATH_STYLE === 'true',
      // s3rver stores aws-chunked framing bytes verbatim when the SDK adds streaming checksums.
      ...(local ? { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' } : {}),
    });
  }
  return s3;
}

export function documentClient(): DynamoDBDocumentClient {
  if (!ddb) {
    ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
      marshallOptions: { removeUndefinedValues: true, convertEmptyValues: false },
    });
  }
  return ddb;
}

/** Drop cached clients (after the local stack changes endpoints). */
export function resetClients(): void {
  s3?.destroy();
  ddb?.destroy();
  s3 = undefined;
  ddb = undefined;
}
