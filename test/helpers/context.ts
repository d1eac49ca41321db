import type { Context } from 'aws-lambda';

/**
 * A fake Lambda context (Powertools `packages/testing/src/context.ts`). `getRemainingTimeInMillis`
 * matters: middy arms its early-timeout timer from it.
 */
export function lambdaContext(overrides: Partial<Context> = {}, remainingMs = 30_000): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionVersion: '$LATEST',
    functionName: 'test-function',
    memoryLimitInMB: '1024',
    logGroupName: '/aws/lambda/test-function',
    logStreamName: '2026/01/01/[$LATEST]0123456789abcdef0123456789abcdef',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:test-function',
    awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
    getRemainingTimeInMillis: () => remainingMs,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
    ...overrides,
  };
}
