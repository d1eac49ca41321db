// biome-ignore-all lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub strings, not JS templates
/**
 * shared/cli/cloudformation-baseline.ts: normalisation of a packaged template and the comparison with the
 * baseline that test/integration/package.test.ts runs on its real package run; and the committed baseline
 * and intended-changes list themselves.
 */
import { describe, expect, it } from 'vitest';
import {
  BASELINE_STAGE,
  type CfnTemplate,
  compareWithBaseline,
  formatComparison,
  normaliseTemplate,
  readBaseline,
} from '../../../../shared/cli/cloudformation-baseline';
import { INTENDED_CHANGES } from '../../../fixtures/cloudformation/intended-changes';

const template = (build: string, sha: string, retryAttempts = 3) => ({
  Resources: {
    FooLambdaFunction: {
      Type: 'AWS::Lambda::Function',
      Properties: { Code: { S3Bucket: { Ref: 'ServerlessDeploymentBucket' }, S3Key: `serverless/svc/pkgtest/${build}/foo.zip` }, Handler: 'foo.handler' },
    },
    [`FooLambdaVersion${sha}`]: {
      Type: 'AWS::Lambda::Version',
      DeletionPolicy: 'Retain',
      Properties: { FunctionName: { Ref: 'FooLambdaFunction' }, CodeSha256: `${sha}=` },
    },
    Machine: {
      Type: 'AWS::StepFunctions::StateMachine',
      Properties: {
        DefinitionString: {
          'Fn::Sub': [
            JSON.stringify({ StartAt: 'A', States: { A: { Type: 'Task', Retry: [{ ErrorEquals: ['X'], MaxAttempts: retryAttempts }], End: true } } }),
            { abc: { 'Fn::GetAtt': ['FooLambdaFunction', 'Arn'] } },
          ],
        },
      },
    },
  },
  Outputs: { FooLambdaFunctionQualifiedArn: { Value: { Ref: `FooLambdaVersion${sha}` } } },
});

describe('normaliseTemplate', () => {
  it('drops what changes on every build: artifact keys, code hashes, version id suffixes', () => {
    // Act
    const a = normaliseTemplate(template('1796691740660-2026-12-08T01:02:20.660Z', 'SatKwFmkjWQ5SQcGP5KShwjnOHvKZd7BnbjFJ1JeUc'));
    const b = normaliseTemplate(template('1796691800000-2026-12-08T01:03:20.000Z', 'p5EgZFUbMfizDNciJV0TT9cD2YiyCjBAja4fMsPHaE'));

    // Assess
    expect(a).toEqual(b);
    expect(Object.keys(a)).toEqual(['FooLambdaFunction', 'FooLambdaVersion', 'Machine', 'Outputs.FooLambdaFunctionQualifiedArn']);
    expect(a['Outputs.FooLambdaFunctionQualifiedArn']).toEqual({ Value: { Ref: 'FooLambdaVersion' } });
    expect(JSON.stringify(a.FooLambdaFunction)).toContain('serverless/svc/pkgtest/<build>/foo.zip');
  });
});

describe('compareWithBaseline', () => {
  const baseline = normaliseTemplate(template('1-x', 'aaaa'));

  it('lists added, removed and changed resources, with the paths that changed, and accepts the intended ones', () => {
    // Prepare
    const changed: Required<Pick<CfnTemplate, 'Resources'>> = template('2-y', 'bbbb', 5);
    changed.Resources.NewTopic = { Type: 'AWS::SNS::Topic' };
    delete changed.Resources.FooLambdaFunction;

    // Act
    const comparison = compareWithBaseline(normaliseTemplate(changed), baseline, [{ id: 'Machine', change: 'changed', reason: 'five retries' }]);

    // Assess
    expect(comparison.differences.map((d) => `${d.change} ${d.id}`)).toEqual(['removed FooLambdaFunction', 'changed Machine', 'added NewTopic']);
    expect(comparison.differences.find((d) => d.id === 'Machine')?.details).toEqual([
      'Properties.DefinitionString.Fn::Sub[0].parsedJson.States.A.Retry[0].MaxAttempts: 3 -> 5',
    ]);
    expect(comparison.unexplained.map((d) => d.id)).toEqual(['FooLambdaFunction', 'NewTopic']);
    const report = formatComparison(comparison);
    expect(report).toContain('added (1):\n  NewTopic');
    expect(report).toContain('removed (1):\n  FooLambdaFunction');
    expect(report).not.toContain('Machine');
  });

  it('flags a listed change that did not happen', () => {
    const comparison = compareWithBaseline(baseline, baseline, [{ id: 'Machine', change: 'changed', reason: 'was regenerated' }]);
    expect(comparison.unexplained).toEqual([]);
    expect(comparison.stale).toHaveLength(1);
    expect(formatComparison(comparison)).toContain('changed Machine: was regenerated');
  });
});

describe('the committed baseline and intended changes', () => {
  it('is for the stage the package test packages, and every intended change is one resource with a one-line reason', () => {
    const baseline = readBaseline();
    expect(baseline.stage).toBe(BASELINE_STAGE);
    expect(Object.keys(baseline.resources).length).toBeGreaterThan(100);
    expect(baseline.resources.RetrainStateMachineRole).toBeDefined();
    const keys = INTENDED_CHANGES.map((c) => `${c.change} ${c.id}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const c of INTENDED_CHANGES) {
      expect(['added', 'removed', 'changed'], c.id).toContain(c.change);
      expect(c.reason.trim(), c.id).not.toBe('');
      expect(c.reason, c.id).not.toContain('\n');
      if (c.change !== 'added') expect(baseline.resources, `${c.id} is not in the baseline`).toHaveProperty([c.id]);
    }
  });
});
