import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';

/** One Logger and one Metrics instance per container (Powertools example app layout). */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'omnichannel-ai' });
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'OmnichannelAI',
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'omnichannel-ai',
  // Metrics' own warnings (e.g. "no application metrics") go through our structured logger and its level.
  logger: child('metrics'),
});

function child(component: string) {
  // Its only warning ("no application metrics to publish") is noise for jobs that emit none on purpose.
  return logger.createChild({ persistentKeys: { component }, logLevel: 'ERROR' });
}
