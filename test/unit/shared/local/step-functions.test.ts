import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findServiceTasks, loadServerlessConfig, localServiceTasks } from '../../../../shared/local';

const realConfig = fileURLToPath(new URL('../../../../serverless.yml', import.meta.url));

describe('local stand-ins for non-Lambda tasks of the state machines', () => {
  it('finds the service integrations of serverless.yml, inside Parallel branches and Map processors too', () => {
    // Prepare
    const config = loadServerlessConfig(realConfig, { env: {} });

    // Act
    const retrain = findServiceTasks(config.stateMachines.retrain?.definition);
    const features = findServiceTasks(config.stateMachines.features?.definition);

    // Assess
    expect(retrain.map((t) => [t.stateName, t.integration])).toEqual([
      ['TrainCandidateOnFargate', 'arn:aws:states:::ecs:runTask'],
      ['NotifyFamilyFailure', 'arn:aws:states:::sns:publish'],
      ['NotifyFailure', 'arn:aws:states:::sns:publish'],
    ]);
    expect(features.map((t) => [t.stateName, t.integration])).toEqual([['NotifyFeaturesFailed', 'arn:aws:states:::sns:publish']]);
    expect(Object.keys(localServiceTasks).sort()).toEqual(['arn:aws:states:::ecs:runTask', 'arn:aws:states:::sns:publish']);
  });

  it('runs the container named by the task definition, and refuses one it cannot map to source', async () => {
    // Prepare
    const config = loadServerlessConfig(realConfig, { env: {} });
    const task = findServiceTasks(config.stateMachines.retrain?.definition).find((t) => t.stateName === 'TrainCandidateOnFargate');
    const container = ((
      config.resolved.resources as { Resources: Record<string, { Properties: { ContainerDefinitions: { DockerLabels: Record<string, string> }[] } }> }
    ).Resources.TrainingTaskDefinition?.Properties.ContainerDefinitions ?? [])[0];
    const noTaskDefinition = { ...task?.state, Parameters: { TaskDefinition: 'arn:aws:ecs:eu-west-1:1:task-definition/x:1' } };
    const ecs = localServiceTasks['arn:aws:states:::ecs:runTask'];

    // Act
    const failure = ecs?.({}, { stateName: 'X', rawState: noTaskDefinition, config, projectRoot: config.servicePath, executionName: 'e' });

    // Assess
    expect(container?.DockerLabels['local.entrypoint']).toBe('shared/training/container/main.ts');
    await expect(failure).rejects.toThrow(/TaskDefinition must be \{ Ref/);
  });
});
