// Composition root: clients and config are built once per cold start.
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { SesBouncer } from '../../shared/adapters/ses-bouncer';
import { METRICS_NAMESPACE } from '../../shared/metrics';
import { bundledConfig } from '../shared/environment';
import { createGatekeeperHandler } from './handler';

const serviceName = 'mail-archiver-gatekeeper';
export const handler = createGatekeeperHandler({
  config: bundledConfig(),
  bouncer: new SesBouncer(),
  logger: new Logger({ serviceName }),
  metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName }),
});
