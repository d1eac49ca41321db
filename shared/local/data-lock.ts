/**
 * One local stack per data directory: dynalite (LevelDB) and s3rver cannot share their files with a
 * second process (the second one's LevelDB open fails, and dynalite then answers `Database is
 * closed`). `acquireDataDirLock` takes `<dataDir>/local-stack.lock`, created exclusively with the
 * holder's pid, start time and command line; a lock whose process is gone is taken over. The lock
 * is released by `release()` and, as a last resort, when the process exits.
 */
import { randomUUID } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const DATA_DIR_LOCK_FILE = 'local-stack.lock';

/** What the lock file holds. */
export interface LockOwner {
  pid: number;
  /** Start time of the process in clock ticks since boot (/proc/<pid>/stat field 22): tells a reused pid apart. */
  startTime?: string;
  /** The holder's command line when it took the lock. */
  command?: string;
  acquiredAt?: string;
}

export interface DataDirLock {
  dataDir: string;
  path: string;
  owner: LockOwner;
  /** Removes the lock file if it is still ours; idempotent. */
  release(): void;
}

export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly lockPath: string,
    readonly holder: LockOwner,
  ) {
    super(`${dataDir} is in use by another local stack: ${describeHolder(holder)} (lock ${lockPath})`);
    this.name = 'DataDirInUseError';
  }
}

export interface AcquireDataDirLockOptions {
  /** Test seams: who we are, and whether a pid is a live process. */
  pid?: number;
  isAlive?: (owner: LockOwner) => boolean;
  /** A lock file still empty or unreadable after this long is stale (its writer died mid-write). Default 5000 ms. */
  unreadableGraceMs?: number;
  /** Release the lock when the process exits (default true). */
  releaseOnExit?: boolean;
}

/** `pid 1234, command "node …/start.ts --once"` (the command from /proc/<pid>/cmdline when the process is alive, else the recorded one). */
export function describeHolder(holder: LockOwner): string {
  if (holder.pid <= 0) return holder.command ?? 'an unknown process';
  const command = processCommandLine(holder.pid) ?? holder.command;
  return `pid ${holder.pid}${command ? `, command "${command}"` : ''}`;
}

/** The command line of a process from /proc (Linux), arguments joined by spaces; undefined when unavailable. */
export function processCommandLine(pid: number): string | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const args = raw.split('\0').filter((a) => a.length > 0);
    return args.length > 0 ? args.join(' ') : undefined;
  } catch {
    return undefined;
  }
}

/** Start time of a process (clock ticks since boot) from /proc/<pid>/stat; undefined off Linux. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command (field 2) is in parentheses and may contain spaces: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19]; // field 22 overall
  } catch {
    return undefined;
  }
}

/** Whether the lock's owner still runs: its pid exists (signal 0) and, when both are known, started at the recorded time. */
export function isOwnerAlive(owner: LockOwner): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (owner.startTime === undefined) return true;
  const now = processStartTime(owner.pid);
  return now === undefined || now === owner.startTime;
}

function readOwner(path: string): LockOwner | undefined | 'missing' {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
  try {
    const owner = JSON.parse(text) as LockOwner;
    return Number.isInteger(owner?.pid) && owner.pid > 0 ? owner : undefined;
  } catch {
    // A bare pid is accepted too (a lock written by hand or by an older version).
    const pid = Number(text.trim());
    return Number.isInteger(pid) && pid > 0 ? { pid } : undefined;
  }
}

/** Creates `path` with `content` only if it does not exist, never visible half-written (temp file + hard link). */
function createExclusive(path: string, content: string): boolean {
  const temp = `${path}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
  writeFileSync(temp, content, { flag: 'wx' });
  try {
    linkSync(temp, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    unlinkSync(temp);
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * Takes the data directory's lock, or throws DataDirInUseError naming the live process that holds
 * it. A lock left by a process that is gone (killed, crashed) is taken over: under a short-lived
 * takeover guard (so two starters cannot both remove it), the stale file is checked again, removed,
 * and created anew.
 */
export function acquireDataDirLock(dataDir: string, options: AcquireDataDirLockOptions = {}): DataDirLock {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, DATA_DIR_LOCK_FILE);
  const pid = options.pid ?? process.pid;
  const isAlive = options.isAlive ?? isOwnerAlive;
  const grace = options.unreadableGraceMs ?? 5000;
  const startTime = processStartTime(pid);
  const owner: LockOwner = {
    pid,
    ...(startTime !== undefined ? { startTime } : {}),
    command: processCommandLine(pid) ?? process.argv.join(' '),
    acquiredAt: new Date().toISOString(),
  };
  const content = `${JSON.stringify(owner)}\n`;

  for (let attempt = 0; attempt < 20; attempt++) {
    if (createExclusive(path, content)) return holdLock(dataDir, path, owner, content, options.releaseOnExit ?? true);
    const holder = readOwner(path);
    if (holder === 'missing') continue; // released meanwhile: try again
    if (holder && isAlive(holder)) throw new DataDirInUseError(dataDir, path, holder);
    if (!holder && ageMs(path) < grace) {
      // Unreadable but fresh: treat as held (its writer may still be at work).
      throw new DataDirInUseError(dataDir, path, { pid: 0, command: 'a process that is still writing the lock file' });
    }
    takeOverStale(path, holder);
  }
  throw new Error(`Could not take the lock ${path}: it kept changing hands`);
}

/** Removes a stale lock under a guard file, if it is still the stale one we judged. */
function takeOverStale(path: string, judged: LockOwner | undefined): void {
  const guard = `${path}.takeover`;
  if (!createExclusive(guard, `${process.pid}\n`)) {
    // Another starter is taking it over; a guard left by a crash expires.
    if (ageMs(guard) > 10_000) unlinkSync(guard);
    return;
  }
  try {
    const again = readOwner(path);
    if (again === 'missing') return;
    const same = again === undefined ? judged === undefined : judged !== undefined && again.pid === judged.pid && again.acquiredAt === judged.acquiredAt;
    if (same) unlinkSync(path);
  } finally {
    unlinkSync(guard);
  }
}

function holdLock(dataDir: string, path: string, owner: LockOwner, content: string, releaseOnExit: boolean): DataDirLock {
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    try {
      // Only our own lock: never remove one another process took over.
      if (readFileSync(path, 'utf8') === content) unlinkSync(path);
    } catch {
      // already gone
    }
  };
  if (releaseOnExit) process.on('exit', release);
  return { dataDir, path, owner, release };
}
