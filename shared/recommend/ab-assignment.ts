import { createHash } from 'node:crypto';

export type Variant = 'champion' | 'challenger';

export interface Assignment {
  variant: Variant;
  /** The shopper's stable position in [0, 1): challenger when bucket < share. */
  bucket: number;
}

/** Stable position of a subject in [0, 1) for an experiment salt (sha256, first 32 bits). */
export function abBucket(subject: string, salt: string): number {
  const digest = createHash('sha256').update(salt).update('\u0000').update(subject).digest();
  return digest.readUInt32BE(0) / 2 ** 32;
}

/**
 * Which variant a shopper sees: a pure function of (subject, salt, share), so the same shopper gets
 * the same variant on every request and container; raising the share only moves shoppers from
 * champion to challenger (buckets below the old share stay challenger). No subject → champion.
 */
export function assignVariant(subject: string | undefined, share: number, salt: string): Assignment {
  if (!subject || !(share > 0)) return { variant: 'champion', bucket: subject ? abBucket(subject, salt) : 1 };
  const bucket = abBucket(subject, salt);
  return { variant: bucket < share ? 'challenger' : 'champion', bucket };
}
