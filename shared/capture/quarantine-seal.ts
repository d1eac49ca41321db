import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { identityOf } from '../identity/extract';
import { defaultHasher, type IdentifierHasher } from '../identity/hashing';
import { identifierKey } from '../identity/identifiers';

/**
 * Quarantined payloads hold personal identifiers in clear (userId, email, phone …): they are stored
 * sealed with AES-256-GCM under a key derived (HKDF) from PII_HASH_KEY with its own label, the row
 * id as associated data (a sealed payload cannot be moved to another row). Only non-personal fields
 * (reasons, times, source, messageId, type, event name) and keyed hashes of the identifiers stay in
 * clear, for listing, correlation and erasure.
 */
export const QUARANTINE_SEAL_INFO = 'omnichannel-ai/quarantine/aes-256-gcm/v1';
const ROW_ID_INFO = 'omnichannel-ai/quarantine/row-id/v1';

export interface SealedPayload {
  alg: 'A256GCM';
  /** base64 */
  iv: string;
  tag: string;
  data: string;
}

export class QuarantineSealError extends Error {
  constructor(rowId: string, cause: unknown) {
    super(`quarantine row ${rowId}: sealed payload cannot be opened (${(cause as Error).message}); was PII_HASH_KEY changed?`);
    this.name = 'QuarantineSealError';
  }
}

export class QuarantineSealer {
  private sealKeyBytes: Buffer | undefined;
  private idKeyBytes: Buffer | undefined;

  /** Keys are derived on first use: a PII key from SSM is only there once the handler's secretsMiddleware loaded it. */
  constructor(readonly hasher: IdentifierHasher) {}

  private get sealKey(): Buffer {
    this.sealKeyBytes ??= this.hasher.deriveKey(QUARANTINE_SEAL_INFO);
    return this.sealKeyBytes;
  }

  private get idKey(): Buffer {
    this.idKeyBytes ??= this.hasher.deriveKey(ROW_ID_INFO);
    return this.idKeyBytes;
  }

  /** Keyed id of a payload (32 hex): the same message quarantined twice has one id, and the id reveals nothing of it. */
  rowId(kind: string, payloadJson: string): string {
    return createHmac('sha256', this.idKey).update(kind).update('\n').update(payloadJson).digest('hex').slice(0, 32);
  }

  seal(plaintext: string, rowId: string): SealedPayload {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.sealKey, iv);
    cipher.setAAD(Buffer.from(rowId, 'utf8'));
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return { alg: 'A256GCM', iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
  }

  open(sealed: SealedPayload, rowId: string): string {
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.sealKey, Buffer.from(sealed.iv, 'base64'));
      decipher.setAAD(Buffer.from(rowId, 'utf8'));
      decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]).toString('utf8');
    } catch (error) {
      throw new QuarantineSealError(rowId, error);
    }
  }
}

let cached: QuarantineSealer | undefined;
const byHasher = new WeakMap<IdentifierHasher, QuarantineSealer>();

/** The sealer of a given hasher (capture and replay use their profile repository's), built once. */
export function sealerFor(hasher: IdentifierHasher): QuarantineSealer {
  let sealer = byHasher.get(hasher);
  if (!sealer) {
    sealer = new QuarantineSealer(hasher);
    byHasher.set(hasher, sealer);
  }
  return sealer;
}

/** The process-wide sealer (the PII key from SSM or the environment, like defaultHasher). */
export function defaultSealer(): QuarantineSealer {
  const hasher = defaultHasher();
  if (cached?.hasher !== hasher) cached = sealerFor(hasher);
  return cached;
}

/** What a quarantine row shows in clear about its payload: nothing personal. */
export interface QuarantineClearFields {
  messageId?: string;
  type?: string;
  event?: string;
  /** Keyed hashes (PII_HASH_KEY) of userId / anonymousId: an operator correlates rows without reading them. */
  userIdHash?: string;
  anonymousIdHash?: string;
  /** Identifier keys (`type:keyed hash`) of every identifier the payload carries: erasure drops the row by them. */
  identifiers?: string[];
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const shortString = (v: unknown, max: number) => (typeof v === 'string' && v.length <= max ? v : undefined);

/** The messages a payload holds: itself, or the elements of a batch envelope (context of the envelope merged loosely). */
function messagesIn(payload: unknown): Record<string, unknown>[] {
  if (!isRecord(payload)) return [];
  if (!Array.isArray(payload.batch)) return [payload];
  return [payload, ...payload.batch.filter(isRecord)];
}

/** The clear fields of a payload (message or request body); never throws on malformed input. */
export function clearFieldsOf(kind: 'message' | 'request', payload: unknown, hasher: IdentifierHasher): QuarantineClearFields {
  const out: QuarantineClearFields = {};
  if (kind === 'message' && isRecord(payload)) {
    const messageId = shortString(payload.messageId, 200);
    const type = shortString(payload.type, 40);
    const event = shortString(payload.event, 200);
    if (messageId) out.messageId = messageId;
    if (type) out.type = type;
    if (event) out.event = event;
  }
  const keys = new Set<string>();
  for (const message of messagesIn(payload)) {
    try {
      const identity = identityOf(message, { hasher });
      for (const id of identity.identifiers) {
        keys.add(identifierKey(id));
        if (message === payload && id.type === 'userId') out.userIdHash = id.hash;
        if (message === payload && id.type === 'anonymousId') out.anonymousIdHash = id.hash;
      }
    } catch {
      // A payload too malformed to read identifiers from: it stays sealed, without identifier keys.
    }
  }
  if (keys.size > 0) out.identifiers = [...keys].sort();
  return out;
}
