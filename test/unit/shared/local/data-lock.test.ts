/**
 * One local stack per data directory (shared/local/data-lock.ts): the lock file is created
 * exclusively with the holder's pid, a live holder is named (pid and command line), a dead one's
 * lock is taken over, and `npm start` on a held directory exits with a message, not a stack trace.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireDataDirLock, DATA_DIR_LOCK_FILE, DataDirInUseError, type LockOwner, processStartTime } from '../../../../shared/local/data-lock';

const projectRoot = resolve(import.meta.dirname, '../../../..');

/** A pid that was alive a moment ago and is not any more. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

/** A live process that is not this one (killed in afterEach). */
function sleeper(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000); process.stdout.write("up")'], { stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((resolvePromise, reject) => {
    child.once('error', reject);
    child.stdout?.once('data', () => resolvePromise(child));
  });
}

describe('data directory lock', () => {
  let dir: string;
  const children: ChildProcess[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'data-lock-'));
  });

  afterEach(() => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const lockPath = () => join(dir, DATA_DIR_LOCK_FILE);
  const writeLock = (owner: LockOwner) => writeFileSync(lockPath(), `${JSON.stringify(owner)}\n`);

  it('creates the lock file with its pid and removes it on release', () => {
    // Act
    const lock = acquireDataDirLock(dir, { releaseOnExit: false });
    const stored = JSON.parse(readFileSync(lockPath(), 'utf8')) as LockOwner;
    lock.release();

    // Assess
    expect(stored.pid).toBe(process.pid);
    expect(stored.startTime).toBe(processStartTime(process.pid));
    expect(stored.command).toContain('node');
    expect(existsSync(lockPath())).toBe(false);
  });

  it('refuses a directory another live process holds, naming its pid and command line', async () => {
    // Prepare
    const holder = await sleeper();
    children.push(holder);
    writeLock({ pid: holder.pid as number, startTime: processStartTime(holder.pid as number) as string, acquiredAt: new Date().toISOString() });

    // Act
    let error: unknown;
    try {
      acquireDataDirLock(dir, { releaseOnExit: false });
    } catch (e) {
      error = e;
    }

    // Assess
    expect(error).toBeInstanceOf(DataDirInUseError);
    const inUse = error as DataDirInUseError;
    expect(inUse.holder.pid).toBe(holder.pid);
    expect(inUse.message).toContain(`pid ${holder.pid}`);
    expect(inUse.message).toContain('setInterval'); // from /proc/<pid>/cmdline
    expect(JSON.parse(readFileSync(lockPath(), 'utf8')).pid).toBe(holder.pid); // untouched
  });

  it('refuses a second lock in the same process until the first is released', () => {
    // Prepare
    const first = acquireDataDirLock(dir, { releaseOnExit: false });

    // Act
    const second = () => acquireDataDirLock(dir, { releaseOnExit: false });

    // Assess
    expect(second).toThrow(DataDirInUseError);
    first.release();
    const third = acquireDataDirLock(dir, { releaseOnExit: false });
    third.release();
  });

  it('takes over a lock whose process is gone, and one whose pid now belongs to another process', async () => {
    // Prepare
    const live = await sleeper();
    children.push(live);

    // Act: a dead pid
    writeLock({ pid: deadPid(), acquiredAt: '2020-01-01T00:00:00.000Z' });
    const fromDead = acquireDataDirLock(dir, { releaseOnExit: false });
    const afterDead = JSON.parse(readFileSync(lockPath(), 'utf8')) as LockOwner;
    fromDead.release();
    // Act: a reused pid (alive, but not started when the lock was written)
    writeLock({ pid: live.pid as number, startTime: 'not-its-start-time', acquiredAt: '2020-01-01T00:00:00.000Z' });
    const fromReused = acquireDataDirLock(dir, { releaseOnExit: false });
    const afterReused = JSON.parse(readFileSync(lockPath(), 'utf8')) as LockOwner;
    fromReused.release();

    // Assess
    expect(afterDead.pid).toBe(process.pid);
    expect(afterReused.pid).toBe(process.pid);
  });

  it('treats a fresh unreadable lock as held and an old one as stale', () => {
    // Prepare
    writeFileSync(lockPath(), '');

    // Act
    const fresh = () => acquireDataDirLock(dir, { releaseOnExit: false });
    const freshError = (() => {
      try {
        fresh();
      } catch (e) {
        return e;
      }
    })();
    const old = new Date(Date.now() - 60_000);
    utimesSync(lockPath(), old, old);
    const taken = acquireDataDirLock(dir, { releaseOnExit: false });

    // Assess
    expect(freshError).toBeInstanceOf(DataDirInUseError);
    expect(taken.owner.pid).toBe(process.pid);
    taken.release();
  });

  it('does not remove a lock it no longer owns', () => {
    // Prepare
    const lock = acquireDataDirLock(dir, { releaseOnExit: false });
    writeLock({ pid: 4_000_000, acquiredAt: new Date().toISOString() }); // someone took it over meanwhile

    // Act
    lock.release();

    // Assess
    expect(JSON.parse(readFileSync(lockPath(), 'utf8')).pid).toBe(4_000_000);
  });

  it('npm start on a held data directory says by whom and exits 75 without a stack trace', async () => {
    // Prepare
    const holder = await sleeper();
    children.push(holder);
    writeLock({ pid: holder.pid as number, startTime: processStartTime(holder.pid as number) as string, acquiredAt: new Date().toISOString() });

    // Act
    const result = spawnSync(
      process.execPath,
      [join(projectRoot, 'node_modules/tsx/dist/cli.mjs'), join(projectRoot, 'shared/cli/start.ts'), '--once', '--data-dir', dir],
      {
        cwd: projectRoot,
        encoding: 'utf8',
        timeout: 50_000,
      },
    );

    // Assess
    expect(result.status).toBe(75);
    expect(result.stderr).toContain(`${dir} is in use by another local stack: pid ${holder.pid}`);
    expect(result.stderr).toContain('setInterval');
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(JSON.parse(readFileSync(lockPath(), 'utf8')).pid).toBe(holder.pid);
  });
});
