// Template assertions on the security-relevant properties, and cdk-nag's AwsSolutions pack with zero
// unacknowledged findings.
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { exampleConfig } from '../support/config';
import { synthesize } from './synth';

let template: Template;
let nagReport: unknown;

beforeAll(() => {
  const synthesized = synthesize();
  try {
    synthesized.app.synth();
  } catch (error) {
    nagReport = error;
  }
  template = synthesized.template;
});

describe('the archiver stack', () => {
  it('passes cdk-nag AwsSolutions with every finding acknowledged with a reason', () => {
    expect(nagReport).toBeUndefined();
  });

  it('the nag check is live: one unacknowledged finding fails synthesis', () => {
    const { app, stack } = synthesize();
    new Bucket(stack, 'CarelessBucket');
    expect(() => app.synth()).toThrow();
  });

  it('keeps raw mail encrypted, versioned, private, TLS-only and retained', () => {
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({
        VersioningConfiguration: { Status: 'Enabled' },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
      }),
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('lets SES write raw mail into the bucket under incoming/', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Principal: { Service: 'ses.amazonaws.com' }, Action: 's3:PutObject' }),
        ]),
      },
    });
  });

  it('indexes into an on-demand table with point-in-time recovery, deletion protection, retained', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        BillingMode: 'PAY_PER_REQUEST',
        DeletionProtectionEnabled: true,
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        GlobalSecondaryIndexes: Match.arrayWith([
          Match.objectLike({ IndexName: 'byFolderUid' }),
          Match.objectLike({ IndexName: 'byReceived' }),
          // One sender's entries by mailbox, with the received key to order them (search --from).
          {
            IndexName: 'bySender',
            KeySchema: [
              { AttributeName: 'fromAddress', KeyType: 'HASH' },
              { AttributeName: 'pk', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['gsi2sk'] },
          },
        ]),
      }),
    });
  });

  it('receives for the domains and the journal domain with TLS required and scanning on, storing then notifying', () => {
    template.hasResourceProperties('AWS::SES::ReceiptRule', {
      Rule: Match.objectLike({
        Enabled: true,
        Recipients: ['example.com', 'journal.example.com'],
        TlsPolicy: 'Require',
        ScanEnabled: true,
        Actions: [
          { LambdaAction: Match.objectLike({ InvocationType: 'RequestResponse' }) },
          {
            S3Action: Match.objectLike({
              ObjectKeyPrefix: 'incoming/',
              TopicArn: Match.anyValue(),
            }),
          },
        ],
      }),
    });
    template.hasResourceProperties('Custom::ReceiptRuleSetActivation', { RuleSetName: 'mail-archiver' });
  });

  it('does not activate the rule set when the config says not to, and says how to', () => {
    const { stack } = synthesize(exampleConfig({ ses: { ruleSetName: 'mine', activateRuleSet: false } }));
    const t = Template.fromStack(stack);
    t.resourceCountIs('Custom::ReceiptRuleSetActivation', 0);
    t.hasOutput('ActivateRuleSetCommand', {
      Value: Match.stringLikeRegexp('set-active-receipt-rule-set --rule-set-name mine'),
    });
  });

  it('has no gatekeeper when unknown recipients go to a catch-all mailbox', () => {
    const { stack } = synthesize(
      exampleConfig({ unknownRecipients: { action: 'catchAll', mailbox: 'bob@example.com' } }),
    );
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::SES::ReceiptRule', {
      Rule: Match.objectLike({ Actions: [{ S3Action: Match.anyValue() }] }),
    });
  });

  it('queues stored mail durably with a dead-letter queue and processes it with partial batch failures', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: { deadLetterTargetArn: Match.anyValue(), maxReceiveCount: 5 },
      SqsManagedSseEnabled: true,
    });
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'sqs', RawMessageDelivery: true });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('runs Node 22 on arm64 with least-privilege grants scoped to the prefix and the table', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Environment: { Variables: Match.objectLike({ INDEX_TABLE: Match.anyValue() }) },
    });
    const policies = template.findResources('AWS::IAM::Policy');
    const statements = Object.values(policies).flatMap(
      (p) =>
        (p as { Properties: { PolicyDocument: { Statement: { Action: unknown; Resource: unknown }[] } } })
          .Properties.PolicyDocument.Statement,
    );
    // s3:GetObject itself (s3:GetObjectRetention, the lock sweep's, is asserted in object-lock.test.ts).
    const s3Reads = statements.filter((s) => ([] as unknown[]).concat(s.Action).includes('s3:GetObject'));
    expect(s3Reads.length).toBeGreaterThan(0);
    // Raw mail under incoming/, the envelope sidecars ingest extends, the delivery log (reconcile and the
    // sealer) and the transparency log (the sealer and the exporter).
    for (const s of s3Reads)
      expect(JSON.stringify(s.Resource)).toMatch(
        /\/(incoming|envelopes|reports|delivery-log|transparency)\/\*/,
      );
    const logReads = s3Reads.filter((s) => JSON.stringify(s.Resource).includes('/delivery-log/*'));
    expect(logReads).toHaveLength(2); // the scheduled reconcile and the transparency log's sealer
    // Writers of the delivery log may put, never delete.
    const logGrants = statements.filter((s) => JSON.stringify(s.Resource).includes('/delivery-log/*'));
    expect(logGrants.length).toBeGreaterThan(1);
    for (const s of logGrants) expect(JSON.stringify(s.Action)).not.toMatch(/Delete|\*"/);
    const sidecarReads = s3Reads.filter((s) => JSON.stringify(s.Resource).includes('/envelopes/*'));
    expect(sidecarReads).toHaveLength(2); // ingest and the scheduled reconcile
    // Listing is granted on the bucket alone (key names), never on objects.
    for (const s of statements.filter((s) => JSON.stringify(s.Action).includes('s3:ListBucket')))
      expect(JSON.stringify(s.Resource)).not.toContain('/*');
    const dynamo = statements.filter((s) => JSON.stringify(s.Action).includes('dynamodb:'));
    for (const s of dynamo) {
      expect(JSON.stringify(s.Action)).not.toMatch(/dynamodb:\*|DeleteItem/);
    }
    // Only the scheduled reconcile reads the whole table (every row is compared with the raw store).
    const scanners = Object.entries(policies).filter(([, p]) => JSON.stringify(p).includes('dynamodb:Scan'));
    expect(scanners.map(([id]) => id.replace(/[A-F0-9]{8}$/, ''))).toEqual([
      'ReconcileReconcileFunctionRoleDefaultPolicy',
    ]);
  });

  it('has an on-demand exporter that reads incoming/ and writes only exports/, which expire', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 900,
      MemorySize: 2048,
      EphemeralStorage: { Size: 10240 },
      Architectures: ['arm64'],
    });
    const statements = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    expect(statements).toContain('/exports/*');
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([Match.objectLike({ Prefix: 'exports/', ExpirationInDays: 7 })]),
      },
    });
    template.hasOutput('ExportFunctionName', { Value: Match.anyValue() });
  });

  it('forwards from a durable queue with a dead-letter queue, through SES v2 with a configuration set', () => {
    template.hasResourceProperties('AWS::SES::ConfigurationSet', {
      ReputationOptions: { ReputationMetricsEnabled: true },
    });
    template.hasResourceProperties('AWS::SES::ConfigurationSetEventDestination', {
      EventDestination: Match.objectLike({ MatchingEventTypes: Match.arrayWith(['bounce', 'complaint']) }),
    });
    template.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: { deadLetterTargetArn: Match.anyValue(), maxReceiveCount: 6 },
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SES',
      MetricName: 'Reputation.BounceRate',
      Threshold: 0.05,
      AlarmActions: [Match.anyValue()],
    });
    const statements = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    expect(statements).toContain('ses:SendEmail');
    expect(statements).toContain('"ses:FromAddress":"forwarder@example.com"');
  });

  it('alarms on dead letters and function errors to the alarm address', () => {
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      AlarmActions: [Match.anyValue()],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Errors',
      AlarmActions: [Match.anyValue()],
    });
  });

  it('lists the DNS records to create, and creates them when a hosted zone is configured', () => {
    template.hasOutput('MxRecord0', { Value: Match.anyValue() });
    template.resourceCountIs('AWS::Route53::RecordSet', 0);
    const { stack } = synthesize(
      exampleConfig({ route53: { hostedZoneId: 'Z123', zoneName: 'example.com' } }),
    );
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::Route53::RecordSet', { Type: 'MX', Name: 'example.com.' });
    t.hasResourceProperties('AWS::Route53::RecordSet', { Type: 'MX', Name: 'journal.example.com.' });
    t.resourcePropertiesCountIs('AWS::Route53::RecordSet', { Type: 'CNAME' }, 3);
  });
});

describe('queues that feed functions', () => {
  it('hide a message for at least six times the timeout of the function that consumes it', () => {
    const resources = template.toJSON().Resources as Record<
      string,
      { Type: string; Properties: Record<string, unknown> }
    >;
    const mappings = Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::EventSourceMapping');
    expect(mappings.length).toBe(2);
    for (const mapping of mappings) {
      const queueId = (mapping.Properties.EventSourceArn as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0];
      const functionId = (mapping.Properties.FunctionName as { Ref: string }).Ref;
      const visibility = resources[queueId]?.Properties.VisibilityTimeout as number;
      const timeout = resources[functionId]?.Properties.Timeout as number;
      expect(visibility, queueId).toBeGreaterThanOrEqual(6 * timeout);
    }
  });

  it('keeps what an asynchronous invocation failed on: export failures reach the export function, feedback a queue', () => {
    const configs = Object.values(template.findResources('AWS::Lambda::EventInvokeConfig')).map(
      (r) => (r as { Properties: Record<string, unknown> }).Properties,
    );
    const onFailure = (c: Record<string, unknown>) =>
      JSON.stringify((c.DestinationConfig as { OnFailure?: unknown } | undefined)?.OnFailure ?? null);
    // The export function is its own destination (it marks the export failed with Lambda's cause).
    expect(
      configs.some((c) => /function:.*-export"/.test(onFailure(c)) && c.MaximumRetryAttempts === 0),
    ).toBe(true);
    expect(configs.some((c) => onFailure(c).includes('ForwardFeedbackDeadLetterQueue'))).toBe(true);
    const alarms = JSON.stringify(template.findResources('AWS::CloudWatch::Alarm'));
    for (const id of ['ForwardFeedbackErrorsAlarm', 'ForwardFeedbackDeadLettersAlarm'])
      expect(
        Object.keys(template.findResources('AWS::CloudWatch::Alarm')).some((k) =>
          k.startsWith(`OperatorAlarms${id}`),
        ),
        id,
      ).toBe(true);
    expect(alarms).toContain('ForwardFeedbackDeadLetterQueue');
  });

  it('keeps a notification SNS cannot deliver, and alarms on it and on a stuck ingest queue', () => {
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'sqs',
      RawMessageDelivery: true,
      RedrivePolicy: {
        deadLetterTargetArn: {
          'Fn::GetAtt': [Match.stringLikeRegexp('^IngestReceivedNotificationDeadLetterQueue'), 'Arn'],
        },
      },
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'NumberOfNotificationsFailed',
      Namespace: 'AWS/SNS',
      AlarmActions: [Match.anyValue()],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateAgeOfOldestMessage',
      Threshold: 3600,
      AlarmActions: [Match.anyValue()],
    });
    template.hasOutput('ReceivedNotificationDeadLetterQueueUrl', { Value: Match.anyValue() });
  });
});
