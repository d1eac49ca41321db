/**
 * The retention rule for model versions, as a pure function: what to keep (and why) and what to delete.
 *
 * A version is KEPT when any of these holds:
 * - it is one of the `keepLast` newest versions (by createdAt, then id);
 * - it was created within `keepDays`;
 * - an alias points to it now;
 * - an alias pointed to it within `aliasGraceDays` (default keepDays): the alias history says when
 *   each pointer was replaced;
 * - it is the champion's `previous` version (the rollback target: `npm run models -- rollback` must
 *   always work);
 * - its createdAt cannot be read (never delete what cannot be dated).
 * Everything else is deleted. Folders holding artifacts but no card.json (a training or an upload
 * still writing, or a deletion that stopped half-way) are deleted only when every object in them is
 * older than the orphan grace (max(keepDays, 1) days).
 */
import type { AliasPointer } from './alias';

export interface RetentionOptions {
  /** Newest versions always kept (≥ 0). */
  keepLast: number;
  /** Versions created within this many days are kept (≥ 0). */
  keepDays: number;
  /** A version an alias pointed to within this many days is kept (default keepDays). */
  aliasGraceDays?: number;
  now?: Date;
  /** Plan only: delete nothing. */
  dryRun?: boolean;
}

export interface RetentionVersion {
  version: string;
  /** card.createdAt; undefined when the folder has no card (orphan). */
  createdAt?: string;
  /** Newest LastModified of the folder's objects. */
  lastModified: Date;
}

export interface RetentionAlias {
  alias: string;
  current?: AliasPointer;
  /** Every recorded move, any order. */
  history: AliasPointer[];
}

export interface RetentionPlan {
  keep: { version: string; reasons: string[] }[];
  delete: string[];
  /** Folders without a card, old enough to remove. */
  deleteOrphans: string[];
}

export class RetentionOptionsError extends Error {
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super(`retention option ${field}: ${reason}`);
    this.name = 'RetentionOptionsError';
  }
}

const DAY_MS = 86_400_000;

export function checkRetentionOptions(options: RetentionOptions): Required<Omit<RetentionOptions, 'dryRun'>> & { dryRun: boolean } {
  const { keepLast, keepDays } = options;
  if (!Number.isInteger(keepLast) || keepLast < 0) throw new RetentionOptionsError('keepLast', `must be an integer ≥ 0, got ${keepLast}`);
  if (!Number.isFinite(keepDays) || keepDays < 0) throw new RetentionOptionsError('keepDays', `must be a number ≥ 0, got ${keepDays}`);
  const aliasGraceDays = options.aliasGraceDays ?? keepDays;
  if (!Number.isFinite(aliasGraceDays) || aliasGraceDays < 0) {
    throw new RetentionOptionsError('aliasGraceDays', `must be a number ≥ 0, got ${aliasGraceDays}`);
  }
  const now = options.now ?? new Date();
  if (Number.isNaN(now.getTime())) throw new RetentionOptionsError('now', 'is not a valid date');
  return { keepLast, keepDays, aliasGraceDays, now, dryRun: options.dryRun ?? false };
}

/** When each version stopped being pointed to by an alias (Infinity: it still is). */
function aliasExposure(alias: RetentionAlias): Map<string, number> {
  const moves = new Map<string, AliasPointer>();
  for (const p of [...alias.history, ...(alias.current ? [alias.current] : [])]) moves.set(`${p.updatedAt}|${p.version}`, p);
  const ordered = [...moves.values()].sort((a, b) => Date.parse(a.updatedAt) - Date.parse(b.updatedAt));
  const until = new Map<string, number>();
  ordered.forEach((move, i) => {
    const next = ordered[i + 1];
    const end = next ? Date.parse(next.updatedAt) : Number.POSITIVE_INFINITY;
    until.set(move.version, Math.max(until.get(move.version) ?? Number.NEGATIVE_INFINITY, end));
  });
  if (alias.current) until.set(alias.current.version, Number.POSITIVE_INFINITY);
  return until;
}

export function planRetention(versions: readonly RetentionVersion[], aliases: readonly RetentionAlias[], options: RetentionOptions): RetentionPlan {
  const { keepLast, keepDays, aliasGraceDays, now } = checkRetentionOptions(options);
  const nowMs = now.getTime();
  const carded = versions.filter((v) => v.createdAt !== undefined);
  const newestFirst = [...carded].sort((a, b) => {
    const d = (Date.parse(b.createdAt as string) || 0) - (Date.parse(a.createdAt as string) || 0);
    return d !== 0 ? d : a.version < b.version ? 1 : -1;
  });
  const reasons = new Map<string, string[]>(carded.map((v) => [v.version, []]));
  const why = (version: string, reason: string) => reasons.get(version)?.push(reason);

  for (const v of newestFirst.slice(0, keepLast)) why(v.version, `one of the ${keepLast} newest versions`);
  for (const v of carded) {
    const created = Date.parse(v.createdAt as string);
    if (Number.isNaN(created)) why(v.version, `createdAt "${v.createdAt}" cannot be read`);
    else if (nowMs - created <= keepDays * DAY_MS) why(v.version, `created within ${keepDays} days`);
  }
  for (const alias of aliases) {
    for (const [version, until] of aliasExposure(alias)) {
      if (until === Number.POSITIVE_INFINITY) why(version, `${alias.alias} points to it`);
      else if (nowMs - until <= aliasGraceDays * DAY_MS)
        why(version, `${alias.alias} pointed to it until ${new Date(until).toISOString()} (within ${aliasGraceDays} days)`);
    }
    if (alias.alias === 'champion' && alias.current?.previous) why(alias.current.previous, 'rollback target of champion');
  }

  const orphanGraceMs = Math.max(keepDays, 1) * DAY_MS;
  return {
    keep: newestFirst.filter((v) => (reasons.get(v.version) ?? []).length > 0).map((v) => ({ version: v.version, reasons: reasons.get(v.version) ?? [] })),
    delete: newestFirst.filter((v) => (reasons.get(v.version) ?? []).length === 0).map((v) => v.version),
    deleteOrphans: versions
      .filter((v) => v.createdAt === undefined && nowMs - v.lastModified.getTime() > orphanGraceMs)
      .map((v) => v.version)
      .sort(),
  };
}
