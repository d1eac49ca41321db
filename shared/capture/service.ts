import type { FieldIssue } from '../http/errors';
import { zodIssues } from '../http/validation';
import type { ProfileRepository } from '../profiles/repository';
import { primaryProfileId } from '../profiles/profile';
import type { BlobStore } from '../storage/blob';
import type { CanonicalEvent } from './events';
import { hostileInputIssues, normalise } from './normalise';
import { storeRawEvents } from './raw-events';
import { type BatchEnvelope, type SegmentMessage, segmentMessageSchema } from './schema';


export interface CaptureDeps {
  blobs: BlobStore;
  profiles: ProfileRepository;
  now?: () => Date;
  /** Parallel profile writers (events of one profile are always applied in order). */
  concurrency?: number;
}

export interface RejectedMessage {
  index: number;
  messageId?: string;
  issues: FieldIssue[];
}

export interface CaptureResult {
  accepted: number;
  /** Accepted messages whose messageId was already counted (a retry): stored once, counted once. */
  duplicates: number;
  rejected: RejectedMessage[];
  profiles: number;
}

type Pending = Omit<CanonicalEvent, 'profileId'>;

function parseMessage(raw: unknown, index: number): { message: SegmentMessage } | { issues: FieldIssue[] } {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { issues: [{ field: `batch.${index}`, reason: 'must be an object' }] };
  const hostile = hostileInputIssues(raw);
  if (hostile.length > 0) return { issues: hostile };
  const parsed = segmentMessageSchema.safeParse(raw);
  return parsed.success ? { message: parsed.data } : { issues: zodIssues(parsed.error) };
}

/** Validates each message on its own: one bad message never costs the good ones. */
export function validateMessages(batch: readonly unknown[], receivedAt: Date, sentAt?: string) {
  const valid: Pending[] = [];
  const rejected: RejectedMessage[] = [];
  const seenIds = new Set<string>();
  let inBatchDuplicates = 0;
  for (const [index, raw] of batch.entries()) {
    const messageId = typeof (raw as { messageId?: unknown })?.messageId === 'string' ? (raw as { messageId: string }).messageId : undefined;
    const parsed = parseMessage(raw, index);
    if ('issues' in parsed) {
      rejected.push({ index, ...(messageId ? { messageId } : {}), issues: parsed.issues });
      continue;
    }
    const result = normalise(parsed.message, receivedAt, sentAt);
    if (!result.ok) {
      rejected.push({ index, ...(messageId ? { messageId } : {}), issues: result.issues });
      continue;
    }
    if (seenIds.has(result.event.eventId)) {
      inBatchDuplicates += 1;
      continue;
    }
    seenIds.add(result.event.eventId);
    valid.push(result.event);
  }
  return { valid, rejected, inBatchDuplicates };
}

/** Resolves every event to a profile id; logins (userId + anonymousId) link the anonymous id first. */
async function resolveProfiles(events: readonly Pending[], profiles: ProfileRepository, now: Date): Promise<CanonicalEvent[]> {
  const anonymous = new Map<string, string | undefined>();
  for (const event of events) {
    if (event.userId && event.anonymousId && !anonymous.has(event.anonymousId)) {
      anonymous.set(event.anonymousId, await profiles.linkAnonymous(event.anonymousId, primaryProfileId({ userId: event.userId }), now));
    }
  }
  const resolved: CanonicalEvent[] = [];
  for (const event of events) {
    let profileId: string;
    if (event.userId) profileId = primaryProfileId({ userId: event.userId });
    else {
      const anonymousId = event.anonymousId as string;
      if (!anonymous.has(anonymousId)) anonymous.set(anonymousId, await profiles.resolveAnonymous(anonymousId));
      profileId = anonymous.get(anonymousId) ?? primaryProfileId({ anonymousId });
    }
    resolved.push({ ...event, profileId });
  }
  return resolved;
}

async function applyToProfiles(events: readonly CanonicalEvent[], profiles: ProfileRepository, now: Date, concurrency: number) {
  const byProfile = new Map<string, CanonicalEvent[]>();
  for (const event of events) (byProfile.get(event.profileId) ?? byProfile.set(event.profileId, []).get(event.profileId))?.push(event);
  const queue = [...byProfile.entries()];
  let duplicates = 0;
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const [profileId, own] = next;
      for (const event of own) if ((await profiles.applyEvent(profileId, event, now)) === 'duplicate') duplicates += 1;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker));
  return { duplicates, profiles: byProfile.size };
}

/**
 * The capture path: validate → normalise → resolve identity → raw storage (S3) → profiles (DynamoDB).
 * Raw events are written before profiles, and both writes are idempotent, so a client retry after
 * any failure converges to each event stored once and counted once.
 */
export async function captureBatch(deps: CaptureDeps, envelope: Pick<BatchEnvelope, 'batch' | 'sentAt'>): Promise<CaptureResult> {
  const now = deps.now?.() ?? new Date();
  const { valid, rejected, inBatchDuplicates } = validateMessages(envelope.batch, now, envelope.sentAt);
  if (valid.length === 0) return { accepted: 0, duplicates: inBatchDuplicates, rejected, profiles: 0 };
  const events = await resolveProfiles(valid, deps.profiles, now);
  await storeRawEvents(deps.blobs, events);
  const applied = await applyToProfiles(events, deps.profiles, now, deps.concurrency ?? 16);
  return {
    accepted: valid.length + inBatchDuplicates,
    duplicates: applied.duplicates + inBatchDuplicates,
    rejected,
    profiles: applied.profiles,
  };
}
