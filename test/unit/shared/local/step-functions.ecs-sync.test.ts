/**
 * The local stand-in of `ecs:runTask` (shared/local/step-functions.ts): `.sync` means the task has
 * stopped — the next state sees what the container wrote last, however long it took — and plain
 * `ecs:runTask` answers at once while the container runs on.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findServiceTasks, loadServerlessConfig, runStateMachine, type ServerlessConfig, waitForBackgroundTasks } from '../../../../shared/local';

const fixtureRoot = resolve(import.meta.dirname, '../../../fixtures/local-stack');

describe('local ecs:runTask stand-in', () => {
  let config: ServerlessConfig;
  let dir: string;
  let markerPath: string;

  beforeEach(() => {
    config = loadServerlessConfig(join(fixtureRoot, 'ecs-tasks.yml'), { env: {} });
    dir = mkdtempSync(join(tmpdir(), 'ecs-run-task-'));
    markerPath = join(dir, 'marker.txt');
  });

  afterEach(async () => {
    await waitForBackgroundTasks();
    rmSync(dir, { recursive: true, force: true });
  });

  it('tells .sync tasks from request-response ones', () => {
    // Act
    const sync = findServiceTasks(config.stateMachines.runThenRead?.definition);
    const plain = findServiceTasks(config.stateMachines.startThenRead?.definition);

    // Assess
    expect(sync.map((t) => [t.stateName, t.integration, t.pattern])).toEqual([['RunContainer', 'arn:aws:states:::ecs:runTask', 'sync']]);
    expect(plain.map((t) => [t.stateName, t.integration, t.pattern])).toEqual([['StartContainer', 'arn:aws:states:::ecs:runTask', 'request-response']]);
  });

  it('answers ecs:runTask.sync only after the container has finished: the next state sees its last write', async () => {
    // Prepare: the event loop is kept busy meanwhile, as on a loaded machine.
    let busy = true;
    const hog = (async () => {
      while (busy) {
        const until = Date.now() + 20;
        while (Date.now() < until) {
          // spin
        }
        await new Promise((r) => setImmediate(r));
      }
    })();

    // Act
    const started = Date.now();
    const run = await runStateMachine({
      config,
      projectRoot: fixtureRoot,
      name: 'runThenRead',
      input: { markerPath, delayMs: 400, fail: 'false' },
    }).finally(() => {
      busy = false;
    });
    await hog;

    // Assess
    expect(run.status).toBe('SUCCEEDED');
    const output = run.output as {
      read: { marker: string | null };
      task: { Tasks: { LastStatus: string; Containers: { Name: string; ExitCode: number; output: unknown }[] }[] };
    };
    expect(output.read.marker).toBe('slow-task');
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(output.task.Tasks[0]?.LastStatus).toBe('STOPPED');
    expect(output.task.Tasks[0]?.Containers).toEqual([
      { Name: 'worker', ExitCode: 0, LastStatus: 'STOPPED', output: { marker: markerPath, label: 'slow-task' } },
    ]);
  });

  it('fails the .sync state with States.TaskFailed when the container fails, after it has stopped', async () => {
    // Act
    const run = await runStateMachine({ config, projectRoot: fixtureRoot, name: 'runThenRead', input: { markerPath, delayMs: 150, fail: 'true' } });

    // Assess
    expect(run.status).toBe('FAILED');
    expect(run.error).toBe('States.TaskFailed');
    expect(JSON.parse(run.cause ?? '{}')).toEqual({
      Containers: [{ Name: 'worker', ExitCode: 1, Reason: 'Error: container gave up after 150 ms' }],
      StopCode: 'EssentialContainerExited',
    });
  });

  it('answers plain ecs:runTask at once (PROVISIONING); the container finishes in the background', async () => {
    // Act
    const run = await runStateMachine({ config, projectRoot: fixtureRoot, name: 'startThenRead', input: { markerPath, delayMs: 300, fail: 'false' } });
    const seenByNextState = (run.output as { read: { marker: string | null } }).read.marker;
    await waitForBackgroundTasks();

    // Assess
    expect(run.status).toBe('SUCCEEDED');
    expect((run.output as { task: { Tasks: { LastStatus: string }[] } }).task.Tasks[0]?.LastStatus).toBe('PROVISIONING');
    expect(seenByNextState).toBeNull();
    expect(readFileSync(markerPath, 'utf8')).toBe('slow-task');
  });
});
