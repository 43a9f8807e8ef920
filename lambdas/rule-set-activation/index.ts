// Composition root: the SES client is built once per cold start.
import { Logger } from '@aws-lambda-powertools/logger';
import { SesActiveRuleSet } from '../../shared/adapters/ses-rule-sets';
import { createActivationHandler, respondToCloudFormation } from './handler';

export const handler = createActivationHandler({
  ruleSets: new SesActiveRuleSet(),
  respond: respondToCloudFormation,
  logger: new Logger({ serviceName: 'mail-archiver-rule-set-activation' }),
});
