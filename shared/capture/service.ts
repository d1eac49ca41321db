import type { ZodType } from 'zod';
import type { FieldIssue } from '../http/errors';
import { zodIssues } from '../http/validation';
import type { ProfileRepository } from '../profiles/repository';
// Identity resolution (resolveProfiles) is owned by shared/identity.
import { resolveEvents } from './resolve-identity';
import type { ObjectStore } from '../storage/object-store';
import type { CanonicalEvent, PendingEvent } from '../events/canonical';
import { hostileInputIssues, normalise } from './normalise';
import { type QuarantineInput, quarantineRows } from './quarantine';
import { sealerFor } from './quarantine-seal';
import { storeRawEvents } from './raw-events';
import { type BatchEnvelope, type SegmentMessage, safeParseSegmentMessage, segmentMessageSchema } from './schema';

export interface CaptureDeps {
  blobs: ObjectStore;
  profiles: ProfileRepository;
  now?: () => Date;
  /** Parallel profile writers (events of one profile are always applied in order). */
  concurrency?: number;
  /** Where the messages came from, recorded on quarantined rows (`POST /v1/batch`, `import:<key>` …). Default `capture`. */
  source?: string;
  /** Write rejected messages to the quarantine (default true; replays set false: their rows already are). */
  quarantine?: boolean;
}

export interface CaptureInput extends Pick<BatchEnvelope, 'batch' | 'sentAt'> {
  /** When the messages were received (default now): a replay passes the original time. */
  receivedAt?: Date;
  /** The schema each message must satisfy (default segmentMessageSchema; single-message routes pass their own). */
  schema?: ZodType<SegmentMessage>;
}

export interface RejectedMessage {
  index: number;
  messageId?: string;
  issues: FieldIssue[];
  /** The quarantine row holding the message (absent when quarantining was off). */
  quarantineId?: string;
}

/** `suppressed`: valid, but the shopper refused tracking (consent.tracking=false): acknowledged, not stored. */
export type MessageStatus = 'accepted' | 'duplicate' | 'rejected' | 'suppressed';

/** The outcome of one message, in request order. */
export interface MessageResult {
  index: number;
  messageId?: string;
  status: MessageStatus;
}

export interface CaptureResult {
  /** Valid messages acknowledged (suppressed ones included: the client must not resend them). */
  accepted: number;
  /** Accepted messages not stored because the shopper refused tracking (consent.tracking=false). */
  suppressed: number;
  /** Accepted messages whose messageId was already counted (a retry): stored once, counted once. */
  duplicates: number;
  rejected: RejectedMessage[];
  /** Rejected messages written to the quarantine. */
  quarantined: number;
  profiles: number;
  results: MessageResult[];
}

type Pending = PendingEvent;

function messageIdOf(raw: unknown): string | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const messageId = (raw as { messageId?: unknown }).messageId;
  return typeof messageId === 'string' ? messageId : undefined;
}

function parseMessage(raw: unknown, index: number, schema: ZodType<SegmentMessage>): { message: SegmentMessage } | { issues: FieldIssue[] } {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { issues: [{ field: `batch.${index}`, reason: 'must be an object' }] };
  const hostile = hostileInputIssues(raw);
  if (hostile.length > 0) return { issues: hostile };
  const parsed = schema === segmentMessageSchema ? safeParseSegmentMessage(raw) : schema.safeParse(raw);
  return parsed.success ? { message: parsed.data } : { issues: zodIssues(parsed.error) };
}

/** Validates each message on its own: one bad message never costs the good ones. */
export function validateMessages(batch: readonly unknown[], receivedAt: Date, sentAt?: string, schema: ZodType<SegmentMessage> = segmentMessageSchema) {
  const valid: Pending[] = [];
  const rejected: RejectedMessage[] = [];
  /** Index in `batch` of each valid event, and of each in-batch duplicate. */
  const validIndex: number[] = [];
  const duplicateIndex: number[] = [];
  const seenIds = new Set<string>();
  let inBatchDuplicates = 0;
  for (let index = 0; index < batch.length; index++) {
    const raw = batch[index];
    const parsed = parseMessage(raw, index, schema);
    if ('issues' in parsed) {
      const messageId = messageIdOf(raw);
      rejected.push({ index, ...(messageId ? { messageId } : {}), issues: parsed.issues });
      continue;
    }
    const result = normalise(parsed.message, receivedAt, sentAt);
    if (!result.ok) {
      rejected.push({ index, messageId: parsed.message.messageId, issues: result.issues });
      continue;
    }
    if (seenIds.has(result.event.eventId)) {
      inBatchDuplicates += 1;
      duplicateIndex.push(index);
      continue;
    }
    seenIds.add(result.event.eventId);
    valid.push(result.event);
    validIndex.push(index);
  }
  return { valid, rejected, inBatchDuplicates, validIndex, duplicateIndex };
}

async function applyToProfiles(events: readonly CanonicalEvent[], profiles: ProfileRepository, now: Date, concurrency: number) {
  const byProfile = new Map<string, CanonicalEvent[]>();
  for (const event of events) (byProfile.get(event.profileId) ?? byProfile.set(event.profileId, []).get(event.profileId))?.push(event);
  const queue = [...byProfile.entries()];
  const duplicateIds = new Set<string>();
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const [profileId, own] = next;
      for (const event of own) if ((await profiles.applyEvent(profileId, event, now)) === 'duplicate') duplicateIds.add(event.eventId);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker));
  return { duplicateIds, profiles: byProfile.size };
}

function linkQuarantineIds(rejected: RejectedMessage[], ids: readonly string[] | undefined): void {
  if (!ids) return;
  for (const [i, r] of rejected.entries()) {
    const id = ids[i];
    if (id) r.quarantineId = id;
  }
}

function resultsOf(size: number, batch: readonly unknown[], statuses: Map<number, MessageStatus>): MessageResult[] {
  const results: MessageResult[] = [];
  for (let index = 0; index < size; index++) {
    const messageId = messageIdOf(batch[index]);
    results.push({ index, ...(messageId ? { messageId } : {}), status: statuses.get(index) ?? 'rejected' });
  }
  return results;
}

/**
 * The capture path: validate → normalise → resolve identity → raw storage (S3) and quarantine of
 * the rejected messages (S3) → profiles (DynamoDB). Both S3 writes happen before any profile
 * write and every write is idempotent (keys from message ids, profile updates conditional on the
 * message id), so a client retry after any failure converges to each event stored once and counted
 * once, and every rejected message kept once.
 */
export async function captureBatch(deps: CaptureDeps, input: CaptureInput): Promise<CaptureResult> {
  const now = deps.now?.() ?? new Date();
  const receivedAt = input.receivedAt ?? now;
  const { valid, rejected, inBatchDuplicates, validIndex, duplicateIndex } = validateMessages(input.batch, receivedAt, input.sentAt, input.schema);
  const quarantining = deps.quarantine !== false && rejected.length > 0;
  const quarantine = quarantining
    ? quarantineRows(
        deps.blobs,
        rejected.map(
          (r): QuarantineInput => ({
            kind: 'message',
            payload: input.batch[r.index],
            reasons: r.issues,
            receivedAt: receivedAt.toISOString(),
            ...(input.sentAt ? { sentAt: input.sentAt } : {}),
            source: deps.source ?? 'capture',
          }),
        ),
        sealerFor(deps.profiles.hasher),
      )
    : Promise.resolve(undefined);
  // Awaited below; this only keeps a failure from being reported as unhandled while profiles resolve.
  quarantine.catch(() => undefined);
  const statuses = new Map<number, MessageStatus>();
  for (const index of duplicateIndex) statuses.set(index, 'duplicate');
  let applied = { duplicateIds: new Set<string>(), profiles: 0 };
  const suppressedIds = new Set<string>();
  if (valid.length > 0) {
    // Identity graph (links, merges, guards, consent): events of shoppers who refused tracking come
    // back in `suppressed` (not stored, not counted on a profile); userId is replaced by its keyed hash.
    const resolved = await resolveEvents(valid, deps.profiles, now);
    const events = resolved.events;
    for (const s of resolved.suppressed) suppressedIds.add(s.eventId);
    const [, quarantined] = await Promise.all([storeRawEvents(deps.blobs, events), quarantine]);
    linkQuarantineIds(rejected, quarantined?.ids);
    applied = await applyToProfiles(events, deps.profiles, now, deps.concurrency ?? 16);
  } else {
    linkQuarantineIds(rejected, (await quarantine)?.ids);
  }
  for (const [i, event] of valid.entries()) {
    const status = suppressedIds.has(event.eventId) ? 'suppressed' : applied.duplicateIds.has(event.eventId) ? 'duplicate' : 'accepted';
    statuses.set(validIndex[i] as number, status);
  }
  return {
    accepted: valid.length + inBatchDuplicates,
    suppressed: suppressedIds.size,
    duplicates: applied.duplicateIds.size + inBatchDuplicates,
    rejected,
    quarantined: quarantining ? rejected.length : 0,
    profiles: applied.profiles,
    results: resultsOf(input.batch.length, input.batch, statuses),
  };
}
