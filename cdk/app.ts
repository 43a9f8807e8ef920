// `cdk synth` / `cdk deploy` entry point: the config file decides everything the stack needs to know.
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { defaultConfigPath, loadConfig } from '../shared/config';
import { ArchiverStack } from './archiver-stack';

const app = new App();
const configPath = (app.node.tryGetContext('config') as string | undefined) ?? defaultConfigPath();
const config = loadConfig(configPath);
new ArchiverStack(app, config.stackName, {
  config,
  description: 'Serverless mail archiver: SES -> S3 -> SQS -> Lambda -> DynamoDB',
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
