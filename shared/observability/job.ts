import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { Context } from 'aws-lambda';
import { secretsMiddleware } from './secrets-middleware';
import { logger, metrics } from './powertools';

/** The middleware stack of non-HTTP functions (state machine tasks, schedules, S3 triggers); secrets from SSM load before the core. */
export function jobHandler<TEvent, TResult>(core: (event: TEvent, context: Context) => Promise<TResult>) {
  return middy(core)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics, { captureColdStartMetric: true }))
    .use(secretsMiddleware());
}
