import { z } from 'zod';
import { CHANNELS } from '../events/canonical';

// The channels are part of the event model (shared/events/canonical.ts); re-exported for existing importers.
export { CHANNELS };

export const MESSAGE_TYPES = ['track', 'identify', 'page', 'screen', 'alias', 'group'] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

/** Segment's per-event and per-batch limits (https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/). */
export const MAX_EVENT_BYTES = 32 * 1024;
export const MAX_BATCH_BYTES = 500 * 1024;
/** Deepest nesting accepted inside properties, traits and context. */
export const MAX_DEPTH = 8;
/** Messages per batch request (500 KB / 2500 ≈ 200 bytes, the smallest useful message). */
export const MAX_BATCH_MESSAGES = 2500;

const id = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');
const isoDate = z.iso.datetime({ offset: true, message: 'must be an ISO-8601 date-time' });
const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
/**
 * A free-form JSON object (properties, traits, integrations …), checked without being copied:
 * z.record would rebuild every key of every message on the hot path. The meta gives its JSON Schema.
 */
const objectRecord = z.custom<Record<string, unknown>>(isRecord, { message: 'must be an object' }).meta({ type: 'object', additionalProperties: {} });

/**
 * Context: free-form as in Segment, with our sales channel checked when present. Store tills,
 * call centres and marketplaces are described here: `channel` plus `store.id` / `store_id`,
 * `device.id`, `agent.id` and `marketplace.name`.
 */
export const contextSchema = z
  .object({
    channel: z.enum(CHANNELS, { message: `must be one of ${CHANNELS.join(', ')}` }).optional(),
  })
  .catchall(z.unknown())
  .meta({
    description:
      'Segment context (free-form). `channel` is the sales channel; store tills (pos) add `store.id` or `store_id` and `device.id`, ' +
      'call centres (call_center) `agent.id`, marketplaces (marketplace) `marketplace.name`.',
  });

const messageShape = {
  type: z.enum(MESSAGE_TYPES, { message: `must be one of ${MESSAGE_TYPES.join(', ')}` }),
  messageId: id.meta({ description: 'Unique per message: a retry with the same messageId is stored once and counted once.' }),
  userId: id.optional(),
  anonymousId: id.optional(),
  previousId: id.optional(),
  groupId: id.optional(),
  event: z.string().trim().min(1, 'must not be empty').max(200).optional(),
  name: z.string().max(200).optional(),
  category: z.string().max(200).optional(),
  properties: objectRecord.optional(),
  traits: objectRecord.optional(),
  context: contextSchema.optional(),
  integrations: objectRecord.optional(),
  timestamp: isoDate.optional(),
  originalTimestamp: isoDate.optional(),
  sentAt: isoDate.optional(),
  receivedAt: isoDate.optional(),
  channel: z.string().max(50).optional(),
  version: z.union([z.number(), z.string()]).optional(),
  writeKey: z.string().optional(),
  _metadata: objectRecord.optional(),
};

type MessageFields = {
  userId?: string | undefined;
  anonymousId?: string | undefined;
  type: string;
  event?: string | undefined;
  previousId?: string | undefined;
};

const needsIdentity = (m: MessageFields) => !m.userId && !m.anonymousId;
const trackNeedsEvent = (m: MessageFields) => m.type === 'track' && !m.event;
const aliasNeedsPreviousId = (m: MessageFields) => m.type === 'alias' && !m.previousId;

/** Rules across fields (JSON Schema cannot say them; the OpenAPI descriptions do). */
function crossFieldRules(message: MessageFields, ctx: z.RefinementCtx): void {
  if (needsIdentity(message)) ctx.addIssue({ code: 'custom', path: ['userId'], message: 'userId or anonymousId is required' });
  if (trackNeedsEvent(message)) ctx.addIssue({ code: 'custom', path: ['event'], message: 'is required for track messages' });
  if (aliasNeedsPreviousId(message)) ctx.addIssue({ code: 'custom', path: ['previousId'], message: 'is required for alias messages' });
}

const RULES = 'Either userId or anonymousId is required; track needs `event`; alias needs `previousId`. Unknown top-level fields are refused.';

/**
 * One Segment message. Unknown top-level fields are refused (a typo there is a bug in the sender);
 * properties, traits and context stay open as in Segment's spec.
 */
const messageBaseSchema = z.strictObject(messageShape);
export const segmentMessageSchema = messageBaseSchema.superRefine(crossFieldRules).meta({ description: `A Segment message. ${RULES}` });

export type SegmentMessage = z.infer<typeof segmentMessageSchema>;

/**
 * `segmentMessageSchema.safeParse`, with the same result, about twice as fast for valid messages
 * (measured: a refinement takes zod 4's object parse off its fast path): the fields first, then the
 * same cross-field predicates; anything invalid is parsed again by the full schema for its issues.
 */
export function safeParseSegmentMessage(raw: unknown): z.ZodSafeParseResult<SegmentMessage> {
  const base = messageBaseSchema.safeParse(raw);
  if (base.success && !needsIdentity(base.data) && !trackNeedsEvent(base.data) && !aliasNeedsPreviousId(base.data)) return base;
  return segmentMessageSchema.safeParse(raw);
}

/**
 * The body of a single-message endpoint (`POST /v1/track` …): the same message, its `type`
 * implied by the path (it may be sent, but must then match the path).
 */
function routeMessageSchema<T extends MessageType>(type: T) {
  return z
    .strictObject({ ...messageShape, type: z.literal(type, { message: `must be "${type}" on /v1/${type}` }).default(type) })
    .superRefine(crossFieldRules)
    .meta({ description: `A Segment ${type} message; \`type\` is implied by the path. ${RULES}` });
}

export const routeMessageSchemas = {
  track: routeMessageSchema('track'),
  identify: routeMessageSchema('identify'),
  page: routeMessageSchema('page'),
  screen: routeMessageSchema('screen'),
  alias: routeMessageSchema('alias'),
  group: routeMessageSchema('group'),
} as const satisfies Record<MessageType, z.ZodType>;

/** The batch envelope: validated as a whole; its messages are validated one by one. */
export const batchEnvelopeSchema = z
  .strictObject({
    batch: z
      .array(z.unknown())
      .min(1, 'must hold at least one message')
      .max(MAX_BATCH_MESSAGES, `must hold at most ${MAX_BATCH_MESSAGES} messages`)
      .meta({ description: 'Segment messages, each validated on its own (see SegmentMessage): one bad message never costs the others.' }),
    sentAt: isoDate.optional().meta({ description: "The device clock when the batch was sent: corrects each message's clock skew." }),
    context: objectRecord.optional().meta({ description: "Merged into every message's context (the message's own keys win), as Segment does." }),
    integrations: objectRecord.optional().meta({ description: "Merged into every message's integrations (the message's own keys win)." }),
    writeKey: z.string().optional().meta({ description: 'The source write key, when it is not sent as HTTP Basic auth.' }),
    _metadata: objectRecord.optional(),
  })
  .meta({ description: `A Segment batch: at most ${MAX_BATCH_BYTES} bytes, ${MAX_BATCH_MESSAGES} messages, ${MAX_EVENT_BYTES} bytes per message.` });

export type BatchEnvelope = z.infer<typeof batchEnvelopeSchema>;

/** A calendar day, `YYYY-MM-DD` (the quarantine is partitioned by the day a message was received). */
export const daySchema = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a day as YYYY-MM-DD')
  .refine((day) => !Number.isNaN(Date.parse(`${day}T00:00:00Z`)) && new Date(`${day}T00:00:00Z`).toISOString().startsWith(day), 'is not a calendar day');

export const quarantineIdSchema = z.string().regex(/^[0-9a-f]{32}$/, 'must be a quarantine row id (32 hex characters)');

/** `GET /v1/quarantine?day=&limit=&cursor=` */
export const quarantineListQuerySchema = z.strictObject({
  day: daySchema.meta({ description: 'The day the messages were received (UTC).' }),
  limit: z.coerce
    .number({ message: 'must be a number' })
    .int('must be an integer')
    .min(1, 'must be at least 1')
    .max(1000, 'must be at most 1000')
    .default(100)
    .meta({ description: 'Rows per page (1–1000, default 100).' }),
  cursor: z.string().max(2000).optional().meta({ description: 'The `nextCursor` of the previous page.' }),
});

/** `POST /v1/quarantine/replay` */
export const quarantineReplayRequestSchema = z
  .strictObject({
    day: daySchema.meta({ description: 'The day whose quarantine is replayed.' }),
    ids: z
      .array(quarantineIdSchema)
      .min(1, 'must name at least one row')
      .max(MAX_BATCH_MESSAGES)
      .optional()
      .meta({ description: 'Only these rows (default: every row not replayed yet).' }),
    patch: objectRecord
      .optional()
      .meta({ description: 'A JSON Merge Patch (RFC 7386) applied to each message before it is replayed, e.g. {"context": {"channel": "pos"}}.' }),
    limit: z
      .number()
      .int('must be an integer')
      .min(1)
      .max(MAX_BATCH_MESSAGES)
      .default(500)
      .meta({ description: 'Rows replayed by this call (default 500); `remaining` says how many are left.' }),
  })
  .meta({ description: 'Re-runs quarantined messages through the capture path; rows accepted are logged as replayed, so replaying again skips them.' });

export type QuarantineReplayRequest = z.infer<typeof quarantineReplayRequestSchema>;
