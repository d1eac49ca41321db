import { z } from 'zod';
import { ROUTES, type RouteSpec } from '../http/routes';
import { CAPTURE_ROUTES, type CaptureRoute, captureRouteKey } from './http';
import {
  batchEnvelopeSchema,
  CHANNELS,
  MAX_BATCH_BYTES,
  MAX_EVENT_BYTES,
  quarantineListQuerySchema,
  quarantineReplayRequestSchema,
  routeMessageSchemas,
  segmentMessageSchema,
} from './schema';

/**
 * The OpenAPI 3.1 document of the capture and quarantine API, generated with zod 4's JSON Schema
 * output from the very schemas that validate the requests (shared/capture/schema.ts): a change to
 * validation is a change to the document. Response shapes are described by the schemas below
 * (documentation only: responses are built by the code, not parsed).
 */

const issue = z.object({ field: z.string(), reason: z.string() });

const errorResponse = z
  .object({
    error: z.string(),
    issues: z.array(issue).optional(),
    reason: z.string().optional().meta({ description: 'Why a key was refused (401).' }),
    quarantined: z.number().int().optional().meta({ description: 'Messages or requests written to the quarantine (nothing is lost on 400).' }),
  })
  .meta({ description: 'Every error names the field and the reason.' });

const messageResult = z.object({
  index: z.number().int(),
  messageId: z.string().optional(),
  status: z.enum(['accepted', 'duplicate', 'rejected', 'suppressed']).meta({
    description:
      '`duplicate`: this messageId was already stored and counted. `suppressed`: valid, but the shopper refused tracking (consent.tracking=false): acknowledged, not stored.',
  }),
});

const batchResponse = z.object({
  success: z.literal(true),
  accepted: z.number().int(),
  suppressed: z.number().int().meta({ description: 'Accepted messages not stored because the shopper refused tracking (consent.tracking=false).' }),
  duplicates: z.number().int(),
  quarantined: z.number().int(),
  profiles: z.number().int(),
  rejected: z.array(z.object({ index: z.number().int(), messageId: z.string().optional(), issues: z.array(issue), quarantineId: z.string().optional() })),
  results: z.array(messageResult).meta({ description: 'One entry per message, in request order.' }),
});

const singleResponse = z.object({ success: z.literal(true), messageId: z.string(), status: z.enum(['accepted', 'duplicate', 'suppressed']) });

const quarantineRow = z
  .object({
    id: z.string().meta({ description: 'Keyed hash of the stored payload: pass it to replay as `ids`.' }),
    kind: z.enum(['message', 'request']).meta({ description: '`request`: a body that never became messages (malformed JSON, invalid batch envelope).' }),
    messageId: z.string().optional(),
    type: z.string().optional(),
    event: z.string().optional(),
    userIdHash: z.string().optional().meta({ description: 'Keyed hash (PII_HASH_KEY) of the userId: correlate rows without reading them.' }),
    anonymousIdHash: z.string().optional().meta({ description: 'Keyed hash of the anonymousId.' }),
    reasons: z.array(issue),
    receivedAt: z.string(),
    sentAt: z.string().optional(),
    source: z.string().meta({ description: 'The route (`POST /v1/batch`), `import:<key>` or `replay:<row id>`.' }),
    key: z.string(),
    replayed: z.boolean(),
  })
  .meta({ description: 'The payload itself is stored encrypted (AES-256-GCM) and never listed.' });

const quarantinePage = z.object({ day: z.string(), items: z.array(quarantineRow), nextCursor: z.string().optional() });

const replayReport = z.object({
  day: z.string(),
  considered: z.number().int(),
  replayed: z.number().int(),
  accepted: z.number().int(),
  duplicates: z.number().int(),
  alreadyReplayed: z.number().int(),
  notFound: z.array(z.string()),
  stillRejected: z.array(z.object({ id: z.string(), issues: z.array(issue) })),
  requarantined: z.number().int(),
  remaining: z.number().int(),
  logKey: z.string().optional(),
});

const ROUTE_COMPONENT: Record<Exclude<CaptureRoute, 'batch'>, string> = {
  track: 'TrackMessage',
  identify: 'IdentifyMessage',
  page: 'PageMessage',
  screen: 'ScreenMessage',
  alias: 'AliasMessage',
  group: 'GroupMessage',
};

type JsonSchema = Record<string, unknown>;
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

function componentSchemas(): Record<string, JsonSchema> {
  const registry = z.registry<{ id: string }>();
  registry.add(segmentMessageSchema, { id: 'SegmentMessage' });
  registry.add(batchEnvelopeSchema, { id: 'BatchRequest' });
  for (const [route, name] of Object.entries(ROUTE_COMPONENT)) registry.add(routeMessageSchemas[route as keyof typeof ROUTE_COMPONENT], { id: name });
  registry.add(quarantineReplayRequestSchema, { id: 'ReplayRequest' });
  registry.add(errorResponse, { id: 'Error' });
  registry.add(batchResponse, { id: 'BatchResponse' });
  registry.add(singleResponse, { id: 'MessageResponse' });
  registry.add(quarantinePage, { id: 'QuarantinePage' });
  registry.add(replayReport, { id: 'ReplayReport' });
  const { schemas } = z.toJSONSchema(registry, { io: 'input', unrepresentable: 'any', uri: (id) => `#/components/schemas/${id}` }) as {
    schemas: Record<string, JsonSchema>;
  };
  for (const schema of Object.values(schemas)) {
    // Component schemas live inside the document: no dialect or id of their own.
    delete schema.$schema;
    delete schema.$id;
  }
  // The envelope takes any array (each message is validated on its own, so one bad message costs
  // no other); the document says what each element must be.
  const batch = (schemas.BatchRequest?.properties as Record<string, JsonSchema> | undefined)?.batch;
  if (batch) batch.items = ref('SegmentMessage');
  return schemas;
}

function queryParameters(): JsonSchema[] {
  const { properties = {}, required = [] } = z.toJSONSchema(quarantineListQuerySchema, { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, JsonSchema>;
    required?: string[];
  };
  return Object.entries(properties).map(([name, schema]) => {
    const { description, ...rest } = schema;
    return { name, in: 'query', required: required.includes(name), ...(description ? { description } : {}), schema: rest };
  });
}

const json = (schema: JsonSchema) => ({ content: { 'application/json': { schema } } });
const errors = (statuses: Record<string, string>) =>
  Object.fromEntries(Object.entries(statuses).map(([status, description]) => [status, { description, ...json(ref('Error')) }]));

const CAPTURE_ERRORS = {
  '400': 'Invalid: every issue names the field and the reason; the invalid messages (or the unreadable request) are in the quarantine.',
  '401': 'Missing or unknown write key, or unreadable credentials (not retried by Segment clients); `reason` says which, `WWW-Authenticate` is set.',
  '403': 'A read or admin key sent to capture: capture takes write keys only.',
  '413': `Body over ${MAX_BATCH_BYTES} bytes.`,
  '503': 'Capture has no write keys configured (retried by Segment clients).',
};

const ADMIN_ERRORS = {
  '401': 'No credential, an unreadable one, or an unknown key (`reason` says which; `WWW-Authenticate` is set).',
  '403': 'A valid key of another class (a write or read key): this route needs an admin key.',
  '503': 'No admin key is configured (deployed).',
};
const READ_ERRORS = {
  '401': 'No credential, an unreadable one, or an unknown key (`reason` says which; `WWW-Authenticate` is set).',
  '403': 'A write key: serving needs a read or admin key.',
  '503': 'No read or admin key is configured (deployed), or no model is promoted yet.',
};

const SECURITY: Record<RouteSpec['class'], Record<string, string[]>[]> = {
  public: [],
  write: [{ writeKey: [] }],
  read: [{ readKey: [] }, { adminKey: [] }],
  admin: [{ adminKey: [] }],
};

/** The operations the capture and quarantine schemas do not describe in detail: from the route table. */
function tableOperation(route: RouteSpec): Record<string, unknown> {
  const parameters = [...route.path.matchAll(/\{([^}]+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
  const statuses: Record<string, string> = {
    '400': 'Invalid request: every issue names the field and the reason.',
    ...(route.class === 'read' ? READ_ERRORS : ADMIN_ERRORS),
    ...(route.method === 'GET' || route.method === 'DELETE' ? { '404': 'Not found.' } : {}),
  };
  const camel = route.summary.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''));
  return {
    operationId: `${route.method.toLowerCase()}${camel.charAt(0).toUpperCase()}${camel.slice(1)}`.slice(0, 80),
    tags: [route.tag],
    summary: route.summary,
    description: `Credential class: \`${route.class}\` (shared/http/routes.ts).`,
    security: SECURITY[route.class],
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(route.method === 'POST' || route.method === 'PUT'
      ? { requestBody: { required: true, content: { 'application/json': { schema: { type: 'object' } } } } }
      : {}),
    responses: {
      '200': { description: 'OK.', content: { [route.tag === 'runs' && route.path.endsWith('/report') ? 'text/html' : 'application/json']: {} } },
      ...errors(statuses),
    },
  };
}

export interface OpenApiOptions {
  /** Server URLs, e.g. the API Gateway endpoint or the local stack. */
  servers?: string[];
  version?: string;
}

export function captureOpenApiDocument(options: OpenApiOptions = {}): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const route of CAPTURE_ROUTES) {
    const single = route !== 'batch';
    paths[captureRouteKey(route).slice('POST '.length)] = {
      post: {
        operationId: single ? `capture${route[0]?.toUpperCase()}${route.slice(1)}` : 'captureBatch',
        tags: ['capture'],
        summary: single ? `Capture one ${route} message (Segment HTTP API)` : 'Capture a batch of Segment messages',
        description: single
          ? `The \`type\` is implied by the path. At most ${MAX_EVENT_BYTES} bytes per message.`
          : `Each message is validated on its own: valid ones are stored and counted, invalid ones quarantined. Channels: ${CHANNELS.join(', ')}.`,
        security: [{ writeKey: [] }],
        requestBody: { required: true, ...json(ref(single ? ROUTE_COMPONENT[route] : 'BatchRequest')) },
        responses: {
          '200': {
            description: single
              ? 'Stored and counted (or already counted: `duplicate`).'
              : 'At least one message was accepted; `results` has one entry per message.',
            ...json(ref(single ? 'MessageResponse' : 'BatchResponse')),
          },
          ...errors(CAPTURE_ERRORS),
        },
      },
    };
  }
  paths['/v1/quarantine'] = {
    get: {
      operationId: 'listQuarantine',
      tags: ['quarantine'],
      summary: "List a day's quarantined messages (paginated)",
      security: [{ adminKey: [] }],
      parameters: queryParameters(),
      responses: {
        '200': { description: 'One page.', ...json(ref('QuarantinePage')) },
        ...errors({ '400': 'Invalid query.', ...ADMIN_ERRORS }),
      },
    },
  };
  paths['/v1/quarantine/replay'] = {
    post: {
      operationId: 'replayQuarantine',
      tags: ['quarantine'],
      summary: 'Replay quarantined messages through the capture path (idempotent)',
      security: [{ adminKey: [] }],
      requestBody: { required: true, ...json(ref('ReplayRequest')) },
      responses: {
        '200': { description: 'What was replayed and what still fails.', ...json(ref('ReplayReport')) },
        ...errors({ '400': 'Invalid request.', ...ADMIN_ERRORS }),
      },
    },
  };
  paths['/v1/openapi.json'] = {
    get: {
      operationId: 'openApi',
      tags: ['meta'],
      summary: 'This document',
      security: [],
      responses: { '200': { description: 'OpenAPI 3.1', content: { 'application/json': {} } } },
    },
  };
  // Every other route of the route table (CORS preflights are plumbing, not operations).
  for (const route of ROUTES) {
    if (route.method === 'OPTIONS') continue;
    const method = route.method.toLowerCase();
    paths[route.path] ??= {};
    const path = paths[route.path] as Record<string, unknown>;
    path[method] ??= tableOperation(route);
    (path[method] as Record<string, unknown>).security = SECURITY[route.class];
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Omnichannel AI: Segment-compatible capture, serving and operations',
      version: options.version ?? '1.0.0',
      description:
        'Segment HTTP API compatible capture (send with any Segment library: host = this API, path /v1/batch). ' +
        'A messageId is stored once and counted once whatever the retries; nothing invalid is dropped: it is quarantined and can be replayed.',
    },
    // Never from a request's Host header: configured URLs, or `/` (relative to where the document was fetched).
    servers: (options.servers?.length ? options.servers : ['/']).map((url) => ({ url })),
    tags: ['capture', 'serving', 'profiles', 'catalogue', 'runs', 'quarantine', 'meta'].map((name) => ({ name })),
    paths,
    components: {
      schemas: componentSchemas(),
      securitySchemes: {
        writeKey: {
          type: 'http',
          scheme: 'basic',
          description: "Segment's scheme: the write key as the user name, an empty password. Without the header, `writeKey` in the JSON body is accepted too.",
        },
        readKey: { type: 'http', scheme: 'bearer', description: 'A serving key from READ_KEYS (a shop backend): Authorization: Bearer <key>.' },
        adminKey: {
          type: 'http',
          scheme: 'bearer',
          description:
            'An operator key from ADMIN_KEYS: Authorization: Bearer <key> (HTTP Basic with the key as user name is accepted too). Also valid on read routes.',
        },
      },
    },
  };
}
