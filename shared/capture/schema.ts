import { z } from 'zod';

/** Sales channels the stack knows. `server` is a back-office integration without a storefront. */
export const CHANNELS = ['web', 'app', 'mini_program', 'pos', 'call_center', 'marketplace', 'server'] as const;
export type Channel = (typeof CHANNELS)[number];

export const MESSAGE_TYPES = ['track', 'identify', 'page', 'screen', 'alias', 'group'] as const;

/** Segment's per-event and per-batch limits (https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/). */
export const MAX_EVENT_BYTES = 32 * 1024;
export const MAX_BATCH_BYTES = 500 * 1024;
/** Deepest nesting accepted inside properties, traits and context. */
export const MAX_DEPTH = 8;

const id = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');
const isoDate = z.iso.datetime({ offset: true, message: 'must be an ISO-8601 date-time' });
const objectRecord = z.record(z.string(), z.unknown());

/** Context: free-form as in Segment, with our sales channel checked when present. */
export const contextSchema = z
  .object({
    channel: z.enum(CHANNELS, { message: `must be one of ${CHANNELS.join(', ')}` }).optional(),
  })
  .catchall(z.unknown());

/**
 * One Segment message. Unknown top-level fields are refused (a typo there is a bug in the sender);
 * properties, traits and context stay open as in Segment's spec.
 */
export const segmentMessageSchema = z
  .strictObject({
    type: z.enum(MESSAGE_TYPES, { message: `must be one of ${MESSAGE_TYPES.join(', ')}` }),
    messageId: id,
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
  })
  .superRefine((message, ctx) => {
    if (!message.userId && !message.anonymousId) {
      ctx.addIssue({ code: 'custom', path: ['userId'], message: 'userId or anonymousId is required' });
    }
    if (message.type === 'track' && !message.event) {
      ctx.addIssue({ code: 'custom', path: ['event'], message: 'is required for track messages' });
    }
    if (message.type === 'alias' && !message.previousId) {
      ctx.addIssue({ code: 'custom', path: ['previousId'], message: 'is required for alias messages' });
    }
  });

export type SegmentMessage = z.infer<typeof segmentMessageSchema>;

/** The batch envelope: validated as a whole; its messages are validated one by one. */
export const batchEnvelopeSchema = z.strictObject({
  batch: z.array(z.unknown()).min(1, 'must hold at least one message').max(2500, 'must hold at most 2500 messages'),
  sentAt: isoDate.optional(),
  context: objectRecord.optional(),
  integrations: objectRecord.optional(),
  writeKey: z.string().optional(),
  _metadata: objectRecord.optional(),
});

export type BatchEnvelope = z.infer<typeof batchEnvelopeSchema>;
