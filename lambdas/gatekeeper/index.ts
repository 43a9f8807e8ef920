// Composition root: clients and config are built once per cold start.
import { Logger } from '@aws-lambda-powertools/logger';
import { SesBouncer } from '../../shared/adapters/ses-bouncer';
import { configFromEnv } from '../shared/environment';
import { createGatekeeperHandler } from './handler';

export const handler = createGatekeeperHandler({
  config: configFromEnv(),
  bouncer: new SesBouncer(),
  logger: new Logger({ serviceName: 'mail-archiver-gatekeeper' }),
});
