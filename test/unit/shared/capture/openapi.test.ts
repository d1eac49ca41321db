// biome-ignore-all lint/suspicious/noTemplateCurlyInString: serverless.yml variables, not JS templates
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CAPTURE_ROUTES, captureRouteKey } from '../../../../shared/capture/http';
import { captureOpenApiDocument } from '../../../../shared/capture/openapi';
import { ROUTES } from '../../../../shared/http/routes';
import { batchEnvelopeSchema, quarantineReplayRequestSchema, segmentMessageSchema } from '../../../../shared/capture/schema';
import { loadServerlessConfig } from '../../../../shared/local/serverless-config';
import { apiEvent } from '../../../helpers/api-event';
import { lambdaContext } from '../../../helpers/context';
import { type ApiHandler, handlerHarness } from '../../../helpers/handler-harness';

type Json = Record<string, unknown>;

const doc = captureOpenApiDocument({ servers: ['https://api.example.com'] });
const schemas = (doc.components as { schemas: Record<string, Json> }).schemas;
const paths = doc.paths as Record<string, Record<string, Json>>;
const config = loadServerlessConfig(fileURLToPath(new URL('../../../../serverless.yml', import.meta.url)), { stage: 'test', env: {} });

/** Every `$ref` anywhere in a value. */
function refs(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) refs(v, found);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') found.push(v);
      else refs(v, found);
    }
  }
  return found;
}

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 and every $ref resolves to a component', () => {
    // Act
    const unresolved = refs(doc).filter((ref) => !ref.startsWith('#/components/schemas/') || !schemas[ref.slice('#/components/schemas/'.length)]);

    // Assess
    expect(doc.openapi).toBe('3.1.0');
    expect(refs(doc).length).toBeGreaterThan(10);
    expect(unresolved).toEqual([]);
    expect(JSON.stringify(doc)).not.toContain('"$schema"');
  });

  it('documents exactly the HTTP routes of serverless.yml (CORS preflights aside), each with the security of its class', () => {
    // Prepare
    const deployed = Object.values(config.functions).flatMap((fn) =>
      fn.events.flatMap((e) => (e.type === 'httpApi' && e.method !== 'OPTIONS' ? [`${e.method} ${e.path}`] : [])),
    );
    const expected = { public: [], write: [{ writeKey: [] }], read: [{ readKey: [] }, { adminKey: [] }], admin: [{ adminKey: [] }] };

    // Act
    const documented = Object.entries(paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`));

    // Assess
    expect(documented.sort()).toEqual(deployed.sort());
    expect(deployed).toEqual(expect.arrayContaining(CAPTURE_ROUTES.map(captureRouteKey)));
    for (const route of ROUTES.filter((r) => r.method !== 'OPTIONS')) {
      expect(paths[route.path]?.[route.method.toLowerCase()]?.security, `${route.method} ${route.path}`).toEqual(expected[route.class]);
    }
    expect(Object.keys((doc.components as { securitySchemes: Json }).securitySchemes).sort()).toEqual(['adminKey', 'readKey', 'writeKey']);
  });

  it('is generated from the validating schemas: the same fields, the same requirements', () => {
    // Prepare
    const component = (name: string) => (schemas[name] ?? {}) as { properties: Record<string, Json>; required?: string[]; additionalProperties?: unknown };
    const message = component('SegmentMessage');

    // Assess
    expect(Object.keys(message.properties)).toEqual(Object.keys(segmentMessageSchema.shape));
    expect(message.required).toEqual(['type', 'messageId']);
    expect(message.additionalProperties).toBe(false);
    expect(Object.keys(component('BatchRequest').properties)).toEqual(Object.keys(batchEnvelopeSchema.shape));
    expect(Object.keys(component('ReplayRequest').properties)).toEqual(Object.keys(quarantineReplayRequestSchema.shape));
    expect(component('BatchRequest').properties.batch?.items).toEqual({ $ref: '#/components/schemas/SegmentMessage' });
    // A single-message route: type optional (implied by the path) and fixed to the route's type.
    expect(component('TrackMessage').required).toEqual(['messageId']);
    expect(component('TrackMessage').properties.type).toMatchObject({ const: 'track', default: 'track' });
    // Free-form objects are documented as objects, channels as the enum the schema checks.
    expect(message.properties.properties).toMatchObject({ type: 'object' });
    expect((message.properties.context?.properties as Record<string, Json> | undefined)?.channel?.enum).toContain('call_center');
  });

  it('describes write-key Basic auth on capture and an admin key on the quarantine', () => {
    // Assess
    expect(paths['/v1/batch']?.post?.security).toEqual([{ writeKey: [] }]);
    expect(paths['/v1/quarantine']?.get?.security).toEqual([{ adminKey: [] }]);
    const parameters = (paths['/v1/quarantine']?.get?.parameters ?? []) as { name: string; required: boolean }[];
    expect(parameters.map((p) => [p.name, p.required])).toEqual([
      ['day', true],
      ['limit', false],
      ['cursor', false],
    ]);
    expect(doc.servers).toEqual([{ url: 'https://api.example.com' }]);
  });
});

describe('GET /v1/openapi.json', () => {
  const api = handlerHarness({ handlers: { openapi: () => import('../../../../functions/http/openapi') } });
  const handler: ApiHandler = (event, context) => api.handlers.openapi(event, context);

  it("serves the document without a credential, with a relative server: never the caller's Host header", async () => {
    // Act: the first caller claims another host (API Gateway passes the Host header on as domainName locally).
    const poisoned = apiEvent({ method: 'GET', path: '/v1/openapi.json', headers: { host: 'evil.example', origin: 'https://shop.example' } });
    poisoned.requestContext.domainName = 'evil.example';
    const first = await handler(poisoned, lambdaContext());
    const second = await handler(apiEvent({ method: 'GET', path: '/v1/openapi.json' }), lambdaContext());

    // Assess
    expect(first.statusCode).toBe(200);
    expect(first.headers?.['Access-Control-Allow-Origin']).toBe('*'); // public document: any origin
    for (const result of [first, second]) {
      const body = JSON.parse(result.body ?? '{}') as { openapi: string; servers: { url: string }[]; paths: Json };
      expect(body.openapi).toBe('3.1.0');
      expect(body.servers).toEqual([{ url: '/' }]);
      expect(Object.keys(body.paths)).toContain('/v1/batch');
      expect(result.body).not.toContain('evil.example');
    }
  });
});

describe('serverless.yml: capture blocks', () => {
  const statements = (fn: string) =>
    (config.functions[fn]?.raw.iamRoleStatements ?? []) as { Effect: string; Action: string[]; Resource: unknown; Condition?: unknown }[];
  const bucketArn = `arn:aws:s3:::${config.provider.environment.DATA_BUCKET}`;

  it('sends failed asynchronous imports to an SQS dead-letter queue the function may write to', () => {
    // Prepare
    const destinations = config.functions.importEvents?.raw.destinations as { onFailure?: { type: string; arn: unknown } };
    const resources = (config.resolved.resources as { Resources: Record<string, { Type: string }> }).Resources;

    // Assess
    expect(destinations.onFailure).toEqual({ type: 'sqs', arn: { 'Fn::GetAtt': ['ImportDeadLetterQueue', 'Arn'] } });
    expect(resources.ImportDeadLetterQueue?.Type).toBe('AWS::SQS::Queue');
    expect(statements('importEvents')).toContainEqual({
      Effect: 'Allow',
      Action: ['sqs:SendMessage'],
      Resource: { 'Fn::GetAtt': ['ImportDeadLetterQueue', 'Arn'] },
    });
    expect(statements('importEvents').flatMap((s) => (s.Action.includes('s3:PutObject') ? (s.Resource as string[]) : []))).toContain(
      `${bucketArn}/quarantine/*`,
    );
  });

  it('grants the capture and quarantine functions only what they use, never a wildcard action or a bare "*"', () => {
    // Prepare
    const ssmArn = (name: string) => ({ 'Fn::Sub': `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/omnichannel-ai/test/${name}` });

    // Assess
    expect(statements('captureBatch')).toEqual([
      // The SecureStrings it reads (shared/config/secrets.ts), exactly those: the PII key and the three key
      // lists (the route-class middleware tells a key of another class, 403, from an unknown one, 401).
      { Effect: 'Allow', Action: ['ssm:GetParameters'], Resource: [ssmArn('pii-hash-key'), ssmArn('write-keys'), ssmArn('read-keys'), ssmArn('admin-keys')] },
      { Effect: 'Allow', Action: ['s3:PutObject'], Resource: [`${bucketArn}/raw/events/*`, `${bucketArn}/quarantine/*`] },
      // BatchGetItem: the identity graph reads a batch's links and profiles up front.
      {
        Effect: 'Allow',
        Action: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        Resource: { 'Fn::GetAtt': ['ProfilesTable', 'Arn'] },
      },
    ]);
    expect(statements('quarantine')).toContainEqual({
      Effect: 'Allow',
      Action: ['ssm:GetParameters'],
      Resource: [ssmArn('pii-hash-key'), ssmArn('write-keys'), ssmArn('read-keys'), ssmArn('admin-keys')],
    });
    expect(statements('quarantine')).toContainEqual({
      Effect: 'Allow',
      Action: ['s3:ListBucket'],
      Resource: bucketArn,
      Condition: { StringLike: { 's3:prefix': ['quarantine/*'] } },
    });
    expect(config.functions.openApi?.raw.iamRoleStatements).toEqual([]); // its own role, with nothing but logs and X-Ray
    for (const fn of ['captureBatch', 'quarantine', 'openApi', 'buildFeatures']) {
      for (const s of statements(fn)) {
        expect(
          s.Action.some((a) => a.includes('*')),
          fn,
        ).toBe(false);
        expect([s.Resource].flat(), fn).not.toContain('*');
      }
    }
  });

  it('names the SSM parameters of the write and admin keys per stage and takes no secret from the deploying environment', () => {
    // Prepare
    const fromShell = loadServerlessConfig(fileURLToPath(new URL('../../../../serverless.yml', import.meta.url)), {
      stage: 'test',
      env: { WRITE_KEYS: 'sha256:abc', ADMIN_KEYS: 'admin', PII_HASH_KEY: 'k'.repeat(40) },
    });

    // Assess
    expect(config.functions.captureBatch?.environment).toMatchObject({
      WRITE_KEYS_PARAMETER: '/omnichannel-ai/test/write-keys',
      PII_HASH_KEY_PARAMETER: '/omnichannel-ai/test/pii-hash-key',
    });
    expect(config.functions.quarantine?.environment).toMatchObject({ ADMIN_KEYS_PARAMETER: '/omnichannel-ai/test/admin-keys' });
    for (const fn of Object.values(fromShell.functions)) {
      for (const secret of ['WRITE_KEYS', 'ADMIN_KEYS', 'PII_HASH_KEY']) expect(fn.environment, `${fn.name} ${secret}`).not.toHaveProperty(secret);
    }
  });
});
