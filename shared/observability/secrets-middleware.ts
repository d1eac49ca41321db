import type { MiddlewareObj } from '@middy/core';
import { type SecretStore, secrets } from '../config/secrets';
import { logger, metrics } from './powertools';

/**
 * Loads the secrets this function reads from SSM before its handler runs (the first invocation of a
 * container reads them all; later ones only refresh write/admin keys older than the max age, from
 * Powertools' cache otherwise). esbuild bundles to CJS, so there is no top-level await: this is the
 * one asynchronous step, after which hashing and key checks stay synchronous.
 *
 * A function with no `*_PARAMETER` variable does nothing here. A first read that fails throws (the
 * error names the parameter and its variable; HTTP callers get a 500); a failed refresh keeps the
 * previous value, logs a warning and counts `SecretRefreshFailed`.
 */
export function secretsMiddleware(store: () => SecretStore = secrets): MiddlewareObj {
  return {
    before: async () => {
      const report = await store().load();
      for (const stale of report.stale) {
        logger.warn('secret refresh failed: keeping the previous value', { secret: stale.name, parameter: stale.parameter, reason: stale.reason });
        metrics.addMetric('SecretRefreshFailed', 'Count', 1);
      }
    },
  };
}
