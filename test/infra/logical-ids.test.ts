// Logical IDs are the contract with a deployed stack: a changed one makes CloudFormation replace the resource,
// and a retained one (the raw mail, the index) would be orphaned beside an empty new one. The stack uses
// aws-cdk-lib's own logical IDs (construct path and hash); this test pins those of every retained resource, so
// moving or renaming a construct that holds one fails here before `cdk diff` shows a replacement.
import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { ReplicaStack } from '../../cdk/replica-stack';
import { exampleConfig } from '../support/config';
import { synthesize, templateJson } from './synth';

/** Every resource the stack keeps when it is deleted, by logical ID. */
const RETAINED = {
  OperatorAlarmsMessagingKey50C929DC: 'AWS::KMS::Key',
  RawMailAccessLogBucket9F8DDC06: 'AWS::S3::Bucket',
  RawMailRawMailBucket38AD48EB: 'AWS::S3::Bucket',
  IndexIndexTableF312057E: 'AWS::DynamoDB::Table',
  ReceivingGatekeeperFunctionLogsD166B30F: 'AWS::Logs::LogGroup',
  ReceivingRuleSetActivationFunctionLogsDE874DAE: 'AWS::Logs::LogGroup',
  ForwardingForwardFunctionLogs7743CA8C: 'AWS::Logs::LogGroup',
  ForwardingForwardFeedbackFunctionLogsEA786A32: 'AWS::Logs::LogGroup',
  IngestIngestFunctionLogsFB45BA01: 'AWS::Logs::LogGroup',
  ExportExportFunctionLogsD5010F40: 'AWS::Logs::LogGroup',
  ReconcileReconcileFunctionLogs0DA18304: 'AWS::Logs::LogGroup',
  TransparencySealFunctionLogsFF3841E7: 'AWS::Logs::LogGroup',
  HealthCanaryFunctionLogs8DBBE720: 'AWS::Logs::LogGroup',
  // A new signing key would leave every checkpoint signed so far unverifiable with the key users keep.
  TransparencySigningKey185AB883: 'AWS::KMS::Key',
};

describe('logical IDs', () => {
  it('keeps every retained resource at its pinned logical ID, and pins every retained resource', () => {
    const { stack } = synthesize();
    const retained = Object.fromEntries(
      Object.entries(templateJson(stack).Resources)
        .filter(([, r]) => r.DeletionPolicy === 'Retain')
        .map(([id, r]) => [id, r.Type]),
    );
    expect(retained).toEqual(RETAINED);
  });

  it('does not depend on the stack name (a second stack of the same app keeps the same IDs)', () => {
    const { stack } = synthesize(undefined, { stackName: 'OtherArchiver' });
    const ids = Object.keys(templateJson(stack).Resources);
    expect(ids).toEqual(expect.arrayContaining(Object.keys(RETAINED)));
  });

  it("pins the replica stack's retained bucket (account B's copy), and a replica adds no retained resource here", () => {
    const replica = { account: '222222222222', region: 'eu-west-1', sourceAccount: '111111111111' };
    const config = exampleConfig({ archive: { replica } });
    const stack = new ReplicaStack(new App(), 'TestArchiver-Replica', { config });
    const retained = Object.entries(templateJson(stack).Resources)
      .filter(([, r]) => r.DeletionPolicy === 'Retain')
      .map(([id, r]) => [id, r.Type]);
    expect(retained).toEqual([['ReplicaBucketB570B599', 'AWS::S3::Bucket']]);
    const source = templateJson(synthesize(config).stack).Resources;
    expect(
      Object.entries(source)
        .filter(([, r]) => r.DeletionPolicy === 'Retain')
        .map(([id]) => id)
        .sort(),
    ).toEqual(Object.keys(RETAINED).sort());
  });
});
