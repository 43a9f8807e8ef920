// `cdk synth` / `cdk deploy` entry point: the config file decides everything the stack needs to know.
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { defaultConfigPath, loadConfig } from '../shared/config';
import { ArchiverStack } from './archiver-stack';
import { ReplicaStack } from './replica-stack';

const app = new App();
const configPath = (app.node.tryGetContext('config') as string | undefined) ?? defaultConfigPath();
const config = loadConfig(configPath);
new ArchiverStack(app, config.stackName, {
  config,
  description: 'Serverless mail archiver: SES -> S3 -> SQS -> Lambda -> DynamoDB',
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
// The replica's own stack, deployed with account B's credentials: `cdk deploy <stackName>-Replica`.
if (config.archive.replica) {
  new ReplicaStack(app, `${config.stackName}-Replica`, {
    config,
    description: 'Serverless mail archiver: the replica bucket in a second account',
    env: { account: config.archive.replica.account, region: config.archive.replica.region },
  });
}
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
