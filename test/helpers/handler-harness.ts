/**
 * One harness for tests that run Lambda handlers through their real middy stacks (Powertools'
 * testing helpers, aws-sdk-client-mock as in its DynamoDBProvider tests):
 * - environment: every function reads its configuration when its module loads, so the variables are
 *   stubbed before the handlers are imported, and restored after the file;
 * - AWS: S3Client and DynamoDBDocumentClient mocked (every instance, module-scope clients included),
 *   reset before each test; `memoryBucket` puts an in-memory bucket behind the S3 mock;
 * - handlers: imported once, after the environment, typed as API Gateway HTTP API handlers.
 * Call it at the top of a test file (or of a describe block): it registers its own hooks.
 */
import { createHash } from 'node:crypto';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { type AwsStub, mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, vi } from 'vitest';

export type ApiHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

/**
 * The admin key of handler tests: BASE_ENV configures it (ADMIN_KEYS), and `apiEvent` sends it as
 * Bearer on read and admin routes unless the test sets its own Authorization (shared/http/routes.ts).
 */
export { TEST_ADMIN_KEY } from './api-event';

/** What every function needs at load, with Powertools quiet. */
export const BASE_ENV: Readonly<Record<string, string>> = {
  ADMIN_KEYS: 'handler-test-admin-key',
  DATA_BUCKET: 'data-bucket',
  PROFILES_TABLE: 'profiles-table',
  AWS_REGION: 'eu-west-1',
  POWERTOOLS_LOG_LEVEL: 'SILENT',
  POWERTOOLS_METRICS_DISABLED: 'true',
};

// biome-ignore lint/suspicious/noExplicitAny: aws-sdk-client-mock's stub types take the client's own input/output unions.
type S3Mock = AwsStub<any, any, any>;
// biome-ignore lint/suspicious/noExplicitAny: as above.
type DynamoMock = AwsStub<any, any, any>;

export interface HandlerHarness<K extends string> {
  s3: S3Mock;
  ddb: DynamoMock;
  /** The loaded handlers (available from the first test on). */
  handlers: Record<K, ApiHandler>;
}

export interface HarnessOptions<K extends string> {
  /** Variables on top of BASE_ENV (set before any handler loads). */
  env?: Record<string, string>;
  /** Handler modules by name: `{ capture: () => import('../../functions/http/capture') }`. */
  handlers?: Record<K, () => Promise<unknown>>;
}

export function stubEnv(env: Readonly<Record<string, string>>): void {
  for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
}

/** The `handler` export of a function module. */
export async function loadHandler(load: () => Promise<unknown>): Promise<ApiHandler> {
  const module = (await load()) as { handler?: unknown };
  if (typeof module.handler !== 'function') throw new Error('the module exports no handler function');
  return module.handler as ApiHandler;
}

export function handlerHarness<K extends string = never>(options: HarnessOptions<K> = {}): HandlerHarness<K> {
  const s3 = mockClient(S3Client);
  const ddb = mockClient(DynamoDBDocumentClient);
  const handlers = {} as Record<K, ApiHandler>;
  beforeAll(async () => {
    stubEnv({ ...BASE_ENV, ...options.env });
    for (const [name, load] of Object.entries(options.handlers ?? {}) as [K, () => Promise<unknown>][]) handlers[name] = await loadHandler(load);
  });
  beforeEach(() => {
    s3.reset();
    ddb.reset();
  });
  afterAll(() => {
    vi.unstubAllEnvs();
    s3.restore();
    ddb.restore();
  });
  return { s3, ddb, handlers };
}

const notFound = (name: 'NoSuchKey' | 'NotFound') => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: 404 } });
const etagOf = (body: Uint8Array) => `"${createHash('md5').update(body).digest('hex')}"`;

/**
 * An in-memory bucket behind the S3 mock (call it after each reset): Put, Get, Head, Copy, Delete and
 * both List versions answer from `objects`, in key order, with MD5 ETags.
 */
export function memoryBucket(s3: S3Mock, objects = new Map<string, Uint8Array>()): Map<string, Uint8Array> {
  const list = (prefix = '', after?: string) =>
    [...objects.keys()]
      .filter((key) => key.startsWith(prefix) && (after === undefined || key > after))
      .sort()
      .map((Key) => ({ Key, Size: objects.get(Key)?.byteLength, ETag: etagOf(objects.get(Key) as Uint8Array) }));
  s3.on(PutObjectCommand).callsFake((input: { Key: string; Body: Uint8Array | string }) => {
    const body = typeof input.Body === 'string' ? Buffer.from(input.Body) : input.Body;
    objects.set(input.Key, body);
    return { ETag: etagOf(body) };
  });
  s3.on(GetObjectCommand).callsFake((input: { Key: string }) => {
    const body = objects.get(input.Key);
    if (!body) throw notFound('NoSuchKey');
    return { Body: { transformToByteArray: async () => body }, ETag: etagOf(body), ContentLength: body.byteLength };
  });
  s3.on(HeadObjectCommand).callsFake((input: { Key: string }) => {
    const body = objects.get(input.Key);
    if (!body) throw notFound('NotFound');
    return { ETag: etagOf(body), ContentLength: body.byteLength };
  });
  s3.on(CopyObjectCommand).callsFake((input: { CopySource: string; Key: string }) => {
    const from = decodeURIComponent(input.CopySource.slice(input.CopySource.indexOf('/') + 1));
    const body = objects.get(from);
    if (!body) throw notFound('NoSuchKey');
    objects.set(input.Key, body);
    return {};
  });
  s3.on(DeleteObjectCommand).callsFake((input: { Key: string }) => {
    objects.delete(input.Key);
    return {};
  });
  s3.on(ListObjectsV2Command).callsFake((input: { Prefix?: string; StartAfter?: string }) => ({
    Contents: list(input.Prefix, input.StartAfter),
    IsTruncated: false,
  }));
  s3.on(ListObjectsCommand).callsFake((input: { Prefix?: string; Marker?: string }) => ({ Contents: list(input.Prefix, input.Marker), IsTruncated: false }));
  return objects;
}
