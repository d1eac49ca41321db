// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are Serverless Framework variables, not JS templates
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { CopyObjectCommand, GetObjectCommand, ListBucketsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { S3EventRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  encodeS3EventKey,
  functionLogicalId,
  functionNameFromLogicalId,
  type LocalStack,
  loadServerlessConfig,
  resolveVariables,
  startLocalStack,
  validateDefinition,
} from '../../shared/local/index';

const fixtureRoot = fileURLToPath(new URL('../fixtures/local-stack/', import.meta.url));
const fixtureConfig = join(fixtureRoot, 'serverless.yml');
const realConfig = fileURLToPath(new URL('../../serverless.yml', import.meta.url));

describe('loadServerlessConfig', () => {
  it('resolves self/opt/env/sls variables, nested and recursive, with quoted fallbacks', () => {
    const config = loadServerlessConfig(fixtureConfig, { stage: 'test', env: { FIXTURE_BUCKET_SUFFIX: 'files' } });
    expect(config.service).toBe('local-fixture');
    expect(config.stage).toBe('test');
    expect(config.region).toBe('eu-west-1');
    expect(config.buckets).toEqual([{ ref: 'data', name: 'local-fixture-test-files', source: 'provider.s3' }]);
    expect(config.provider.environment).toEqual({
      DATA_BUCKET: 'local-fixture-test-files',
      ITEMS_TABLE: 'local-fixture-test-items', // ${sls:stage}
      GREETING: 'hello, local-fixture', // env missing -> nested ${self:...} holding another variable
    });
    const custom = config.resolved.custom as Record<string, unknown>;
    expect(custom.limit).toBe(5); // ${self:custom.limits.${self:custom.stage}, 5}: no limits.test
    expect(custom.fromSsm).toBe('ssm-fallback');
    expect(custom.cfSub).toBe('arn:aws:s3:::${AWS::Region}-literal'); // Fn::Sub text is not a variable
    expect(config.functions.putItem?.environment).toMatchObject({ ITEM_LIMIT: '5', DATA_BUCKET: 'local-fixture-test-files' });
    expect(config.functions.putItem?.functionEnvironment).toEqual({ ITEM_LIMIT: '5' });
    expect(config.stateMachines.pipeline?.name).toBe('local-fixture-test-pipeline');

    const dev = loadServerlessConfig(fixtureConfig, {
      region: 'us-east-2',
      env: { FIXTURE_GREETING: 'hi there' },
    });
    expect(dev.stage).toBe('dev');
    expect(dev.region).toBe('us-east-2');
    expect(dev.buckets[0]?.name).toBe('local-fixture-dev-data');
    expect(dev.provider.environment.GREETING).toBe('hi there');
    expect((dev.resolved.custom as Record<string, unknown>).limit).toBe(10);
  });

  it('models functions, events, tables and state machines', () => {
    const config = loadServerlessConfig(fixtureConfig, { env: {} });
    const put = config.functions.putItem;
    expect(put).toMatchObject({
      handlerModule: 'functions/items',
      handlerExport: 'put',
      deployedName: 'local-fixture-dev-putItem',
      timeout: 10,
      events: [{ type: 'httpApi', method: 'POST', path: '/items/{id}' }],
    });
    expect(config.functions.getItem?.events).toEqual([{ type: 'httpApi', method: 'GET', path: '/items/{id}' }]);
    expect(config.functions.boom?.timeout).toBe(3);
    expect(config.functions.onImport?.events).toEqual([
      { type: 'schedule', rate: 'rate(1 hour)', rates: ['rate(1 hour)'], enabled: true, input: { source: 'schedule' } },
      {
        type: 's3',
        bucketRef: 'data',
        bucketName: 'local-fixture-dev-data',
        event: 's3:ObjectCreated:*',
        rules: [{ prefix: 'imports/' }, { suffix: '.ndjson' }],
        existing: false,
      },
    ]);
    expect(config.tables).toHaveLength(1);
    expect(config.tables[0]).toMatchObject({
      logicalId: 'ItemsTable',
      TableName: 'local-fixture-dev-items',
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    });
    expect(config.tables[0]?.GlobalSecondaryIndexes?.[0]?.IndexName).toBe('gsi1');
    expect(config.stateMachines.pipeline?.events[0]?.input).toEqual({ runId: 'scheduled', count: 0 });
    expect(validateDefinition(config.stateMachines.pipeline?.definition, config)).toEqual({ isValid: true, errors: [] });
  });

  it('maps CloudFormation logical ids to function names and detects bad variables', () => {
    expect(functionLogicalId('prepareSnapshot')).toBe('PrepareSnapshotLambdaFunction');
    expect(functionNameFromLogicalId('PrepareSnapshotLambdaFunction')).toBe('prepareSnapshot');
    expect(functionLogicalId('my-fn_x')).toBe('MyDashfnUnderscorexLambdaFunction');
    expect(functionNameFromLogicalId('MyDashfnUnderscorexLambdaFunction', ['other', 'my-fn_x'])).toBe('my-fn_x');
    expect(functionNameFromLogicalId('NopeLambdaFunction', ['other'])).toBeUndefined();
    expect(() => resolveVariables({ a: '${self:b}', b: '${self:a}' })).toThrow(/Circular/);
    expect(() => resolveVariables({ a: '${env:NOPE_NOT_SET}' }, { env: {} })).toThrow(/Cannot resolve variable/);
    expect(resolveVariables({ a: '${env:NOPE, "it\'s, quoted"}', b: '${opt:flag, true}' }, { env: {} })).toEqual({
      a: "it's, quoted",
      b: true,
    });
  });

  it('reads the real serverless.yml', () => {
    const config = loadServerlessConfig(realConfig, { env: {} });
    expect(config.service).toBe('omnichannel-ai');
    expect(config.functions.captureBatch?.events).toContainEqual({ type: 'httpApi', method: 'POST', path: '/v1/batch' });
    expect(config.functions.captureBatch?.handlerModule).toBe('functions/http/capture-batch');
    const s3Rules = config.functions.importEvents?.events.flatMap((e) => (e.type === 's3' ? [e.rules] : []));
    expect(s3Rules).toEqual([
      ...['.ndjson', '.ndjson.gz', '.csv', '.csv.gz'].map((suffix) => [{ prefix: 'imports/events/' }, { suffix }]),
      ...['.ndjson.gz', '.csv.gz'].map((suffix) => [{ prefix: 'imports/parts/' }, { suffix }]),
    ]);
    expect(config.tables.map((t) => [t.logicalId, t.TableName])).toEqual([
      ['ProfilesTable', 'omnichannel-ai-dev-profiles'],
      ['CatalogTable', 'omnichannel-ai-dev-catalog'],
    ]);
    expect(config.buckets.map((b) => b.name)).toEqual(['omnichannel-ai-dev-shop-data']);
    expect(config.provider.environment.DATA_BUCKET).toBe('omnichannel-ai-dev-shop-data');
    const retrain = config.stateMachines.retrain;
    expect(retrain?.name).toBe('omnichannel-ai-dev-retrain');
    expect(validateDefinition(retrain?.definition, config)).toEqual({ isValid: true, errors: [] });
  });
});

describe('local stack (fixture project)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'local-stack-'));
  let stack: LocalStack;
  const docs = () => DynamoDBDocumentClient.from(stack.emulators.dynamodbClient());
  const table = 'local-fixture-dev-items';
  const bucket = 'local-fixture-dev-data';
  const getItem = async (pk: string, sk: string) => (await docs().send(new GetCommand({ TableName: table, Key: { pk, sk } }))).Item;

  beforeAll(async () => {
    stack = await startLocalStack({ projectRoot: fixtureRoot, dataDir, port: 0, env: {}, quiet: true });
  });

  afterAll(async () => {
    await stack?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('creates the table and the bucket from serverless.yml and points the SDK at the emulators', async () => {
    expect(stack.emulators.created).toEqual({ tables: [table], buckets: [bucket] });
    const described = await stack.emulators.dynamodbClient().send(new DescribeTableCommand({ TableName: table }));
    expect(described.Table?.TableStatus).toBe('ACTIVE');
    expect(described.Table?.GlobalSecondaryIndexes?.[0]?.IndexName).toBe('gsi1');
    const buckets = await stack.emulators.s3Client().send(new ListBucketsCommand({}));
    expect(buckets.Buckets?.map((b) => b.Name)).toContain(bucket);
    expect(process.env.AWS_ENDPOINT_URL_S3).toBe(stack.emulators.s3Endpoint);
    expect(process.env.AWS_ENDPOINT_URL_DYNAMODB).toBe(stack.emulators.dynamodbEndpoint);
    expect(process.env.DATA_BUCKET).toBe(bucket);
    expect(stack.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('serves httpApi routes with payload v2 events, path parameters and query strings', async () => {
    const res = await fetch(`${stack.url}/items/a-1?tag=red&x=1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'vitest' },
      body: JSON.stringify({ name: 'first' }),
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-function')).toBe('local-fixture-dev-putItem');
    expect(res.headers.get('apigw-requestid')).toBeTruthy();
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      id: 'a-1',
      tag: 'red',
      limit: '10',
      routeKey: 'POST /items/{id}',
      rawPath: '/items/a-1',
      rawQueryString: 'tag=red&x=1',
      version: '2.0',
      method: 'POST',
      userAgent: 'vitest',
      contentType: 'application/json',
      isBase64Encoded: false,
    });
    expect(body.remainingMs).toBeGreaterThan(9000); // timeout 10 s

    const got = await fetch(`${stack.url}/items/a-1`);
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toBe('application/json');
    expect(await got.json()).toMatchObject({ pk: 'item', sk: 'a-1', tag: 'red', body: { name: 'first' }, greeting: 'hello, local-fixture' });

    const missing = await fetch(`${stack.url}/items/nope%20here`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ message: 'item nope here not found' });
  });

  it('answers like API Gateway for unknown routes (404), big bodies (413) and failing functions (500)', async () => {
    const unknown = await fetch(`${stack.url}/does/not/exist`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ message: 'Not Found' });
    const wrongMethod = await fetch(`${stack.url}/items/a-1`, { method: 'DELETE' });
    expect(wrongMethod.status).toBe(404);

    const tooBig = await fetch(`${stack.url}/items/big`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: 'x'.repeat(10 * 1024 * 1024 + 1),
    });
    expect(tooBig.status).toBe(413);
    expect(await tooBig.json()).toEqual({ message: 'Request Entity Too Large' });
    expect(await getItem('item', 'big')).toBeUndefined();

    const boom = await fetch(`${stack.url}/boom`);
    expect(boom.status).toBe(500);
    const text = await boom.text();
    expect(JSON.parse(text)).toEqual({ message: 'Internal Server Error' });
    expect(text).not.toContain('hunter2');
  });

  it('routes S3 uploads to the function whose prefix AND suffix rules match', async () => {
    const s3 = stack.emulators.s3Client();
    const put = (Key: string, Body: string) => s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body }));
    await put('imports/my file.ndjson', '{"a":1}\n');
    await put('imports/skip.csv', 'a,b\n'); // suffix does not match
    await put('other/skip.ndjson', '{}\n'); // prefix does not match
    await put('imports/poison.ndjson', '{}\n'); // handler throws
    await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: 'imports/copied.ndjson', CopySource: `${bucket}/imports/my file.ndjson` }));
    await stack.s3Events.waitForIdle();

    const imported = await getItem('import', 'imports/my file.ndjson');
    const record = imported?.record as S3EventRecord;
    expect(record.eventSource).toBe('aws:s3');
    expect(record.eventName).toBe('ObjectCreated:Put');
    expect(record.awsRegion).toBe('eu-west-1');
    expect(record.s3.bucket).toMatchObject({ name: bucket, arn: `arn:aws:s3:::${bucket}` });
    expect(record.s3.object).toMatchObject({
      key: 'imports/my+file.ndjson',
      size: 8,
      eTag: createHash('md5').update('{"a":1}\n').digest('hex'),
    });

    const copied = (await getItem('import', 'imports/copied.ndjson'))?.record as S3EventRecord;
    expect(copied.eventName).toBe('ObjectCreated:Copy');
    expect(copied.s3.object.eTag).toBe(record.s3.object.eTag);
    expect(copied.s3.object.size).toBe(8);

    expect(await getItem('import', 'imports/skip.csv')).toBeUndefined();
    expect(await getItem('import', 'other/skip.ndjson')).toBeUndefined();
    expect(stack.s3Events.invocations.map((i) => i.key).sort()).toEqual(['imports/copied.ndjson', 'imports/my file.ndjson', 'imports/poison.ndjson']);
    expect(stack.s3Events.errors).toHaveLength(1);
    expect(stack.s3Events.errors[0]).toMatchObject({ functionName: 'onImport', key: 'imports/poison.ndjson' });
    expect(encodeS3EventKey('a b/c:d(1).ndjson')).toBe('a+b/c%3Ad%281%29.ndjson');
  });

  it('runs a schedule on demand with its input', async () => {
    expect(await stack.runSchedule('onImport')).toEqual({ scheduled: true });
  });

  it('runs the state machine from serverless.yml: success, Choice, Retry and Catch paths', async () => {
    const ok = await stack.runStateMachine('pipeline', { runId: 'ok-1', count: 3 });
    expect(ok).toMatchObject({ status: 'SUCCEEDED', output: { outcome: 'recorded', runId: 'ok-1' } });
    expect(await getItem('run', 'ok-1')).toMatchObject({ outcome: 'recorded', attempt: 1 });

    const skipped = await stack.runStateMachine('local-fixture-dev-pipeline', { runId: 'skip-1', count: 0 });
    expect(skipped).toMatchObject({ status: 'SUCCEEDED', output: { runId: 'skip-1', enoughData: false } });

    const flaky = await stack.runStateMachine('pipeline', { runId: 'flaky-1', count: 1, mode: 'flaky', failTimes: 1 }, { retryDelayMs: 0 });
    expect(flaky.status).toBe('SUCCEEDED');
    expect(await getItem('run', 'flaky-1')).toMatchObject({ outcome: 'recorded', attempt: 2 });

    const bad = await stack.runStateMachine('pipeline', { runId: 'bad-1', count: 1, mode: 'throw' });
    expect(bad).toMatchObject({ status: 'FAILED', error: 'PipelineFailed', cause: 'A step failed; see the run record.' });
    const failure = await getItem('run', 'bad-1');
    expect(failure).toMatchObject({ outcome: 'failed', error: 'FixtureError' });
    expect(JSON.parse(failure?.cause as string)).toMatchObject({
      errorType: 'FixtureError',
      errorMessage: 'step failed for bad-1',
    });

    const exhausted = await stack.runStateMachine('pipeline', { runId: 'flaky-2', count: 1, mode: 'flaky', failTimes: 9 }, { retryDelayMs: 0 });
    expect(exhausted.status).toBe('FAILED');
    expect(await getItem('run', 'flaky-2')).toMatchObject({ outcome: 'failed', error: 'FlakyError' });

    expect(await stack.runSchedule('pipeline')).toMatchObject({ status: 'SUCCEEDED' });
  });

  it('keeps DynamoDB and S3 data across a restart with the same dataDir', async () => {
    await stack.stop();
    stack = await startLocalStack({ projectRoot: fixtureRoot, dataDir, port: 0, env: {}, quiet: true });
    expect(stack.emulators.created).toEqual({ tables: [], buckets: [] });

    const got = await fetch(`${stack.url}/items/a-1`);
    expect(got.status).toBe(200);
    expect(await got.json()).toMatchObject({ sk: 'a-1', tag: 'red' });

    const object = await stack.emulators.s3Client().send(new GetObjectCommand({ Bucket: bucket, Key: 'imports/my file.ndjson' }));
    expect(await object.Body?.transformToString()).toBe('{"a":1}\n');
    expect(stack.s3Events.invocations).toEqual([]);
  });
});
