// Logical IDs are the contract with a deployed stack: a changed one makes CloudFormation replace the resource,
// and a retained one (the raw mail, the index) would be orphaned beside an empty new one. These tests pin them.
import { App, type CfnElement, Names, Stack } from 'aws-cdk-lib';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { makeUniqueId } from '../../cdk/logical-ids';
import { exampleConfig } from '../support/config';
import { synthesize, templateJson } from './synth';

/** Every resource the stack keeps when it is deleted, by logical ID. */
const RETAINED = {
  AccessLogBucketDA470295: 'AWS::S3::Bucket',
  RawMailBucket41F42A42: 'AWS::S3::Bucket',
  IndexTableDA5422D9: 'AWS::DynamoDB::Table',
  MessagingKey9A79A2B1: 'AWS::KMS::Key',
  ExportFunctionLogs61F11E2C: 'AWS::Logs::LogGroup',
  ForwardFeedbackFunctionLogs01448A42: 'AWS::Logs::LogGroup',
  ForwardFunctionLogs537E8921: 'AWS::Logs::LogGroup',
  GatekeeperFunctionLogsB412BCD9: 'AWS::Logs::LogGroup',
  IngestFunctionLogsAF4D8C26: 'AWS::Logs::LogGroup',
  ReconcileFunctionLogsD790908C: 'AWS::Logs::LogGroup',
  RuleSetActivationFunctionLogs9183ADB0: 'AWS::Logs::LogGroup',
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

  it('names resources derived from another construct (subscriptions, event sources) as before the split', () => {
    const ids = Object.keys(templateJson(synthesize().stack).Resources);
    expect(ids).toEqual(
      expect.arrayContaining([
        'IngestQueueTestArchiverReceivedTopic686CAD00670D5332',
        'IngestFunctionSqsEventSourceTestArchiverIngestQueue2BCC92903CEF0335',
        'ForwardFunctionSqsEventSourceTestArchiverForwardQueue3D77BD387ACEB2D7',
        'ForwardFeedbackFunctionAllowInvokeTestArchiverForwardFeedbackTopic32915D68639971D7',
      ]),
    );
  });

  it("computes ids by aws-cdk-lib's own rule", () => {
    const app = new App();
    const stack = new Stack(app, 'Some-Stack');
    const inner = new Construct(new Construct(stack, 'Outer'), 'Default');
    const topic = new Topic(inner, 'Topic');
    const single = new Construct(stack, 'Lone_One');
    for (const c of [topic, inner, single, topic.node.defaultChild as Construct]) {
      expect(makeUniqueId(c.node.scopes.slice(1).map((s) => s.node.id))).toBe(Names.nodeUniqueId(c.node));
    }
  });

  it('gives a construct added to the stack itself the same logical ID as in a plain stack', () => {
    const { stack } = synthesize(exampleConfig());
    const plain = new Stack(new App(), 'TestArchiver');
    const a = new Topic(stack, 'ExtraTopic');
    const b = new Topic(plain, 'ExtraTopic');
    const logicalId = (topic: Topic) => stack.getLogicalId(topic.node.defaultChild as CfnElement);
    expect(logicalId(a)).toBe(plain.getLogicalId(b.node.defaultChild as CfnElement));
  });
});
