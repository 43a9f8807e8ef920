// The Gmail API resources of the stack: a secret per gmail-api target (read by the forward function), the
// scheduled Sent collection with the grants it needs, the authorisation alarm, and cdk-nag still clean.
import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import {
  GMAIL_AUTH_FAILURE_LOG,
  METRICS_NAMESPACE,
  SCHEDULED_RUN_SUCCEEDED_METRIC,
  SENT_COLLECTOR_SERVICE,
} from '../../shared/metrics';
import { exampleConfig } from '../support/config';
import { synthesize } from './synth';

const config = exampleConfig({
  mailboxes: {
    'alice@example.com': {
      forwardTo: [{ address: 'alice.example@gmail.com', via: 'gmail-api', collectSent: true }],
    },
    'bob@example.com': {
      forwardTo: [{ address: 'bob@corp-workspace.example', via: 'gmail-api' }, 'bob@elsewhere.example'],
    },
  },
});

describe('Gmail API delivery in the stack', () => {
  const synthesized = synthesize(config);
  const template = synthesized.template;

  it('passes cdk-nag with every finding acknowledged', () => {
    expect(() => synthesized.app.synth()).not.toThrow();
  });

  it('creates one empty secret per gmail-api target, named <stack>/gmail/<address>', () => {
    const secrets = template.findResources('AWS::SecretsManager::Secret');
    expect(
      Object.values(secrets)
        .map((s) => (s.Properties as { Name: string }).Name)
        .sort(),
    ).toEqual([
      'MailArchiver/gmail/alice.example@gmail.com',
      'MailArchiver/gmail/bob@corp-workspace.example',
    ]);
    for (const secret of Object.values(secrets)) {
      expect((secret.Properties as { SecretString: string }).SecretString).toBe('{}');
    }
    expect(synthesize(exampleConfig()).template.findResources('AWS::SecretsManager::Secret')).toEqual({});
  });

  it('lets the forward function and the collector read the secrets', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'secretsmanager:GetSecretValue',
            Effect: 'Allow',
          }),
        ]),
      },
    });
  });

  it('runs the Sent collection every 15 minutes, one run at a time', () => {
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(15 minutes)' });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('Gmail users sent'),
      ReservedConcurrentExecutions: 1,
    });
  });

  it('alarms when no collection ended without a failure for an hour (twice 15 minutes, in whole hours)', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'TestArchiver-SentCollectorHeartbeatAlarm',
      Namespace: METRICS_NAMESPACE,
      MetricName: SCHEDULED_RUN_SUCCEEDED_METRIC,
      Dimensions: [{ Name: 'service', Value: SENT_COLLECTOR_SERVICE }],
      Period: 3600,
      EvaluationPeriods: 1,
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 1,
      TreatMissingData: 'breaching',
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: SENT_COLLECTOR_SERVICE }) },
    });
  });

  it('alarms when Google refuses a credential (the functions log the line the filter counts)', () => {
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      FilterPattern: `{ $.message = "${GMAIL_AUTH_FAILURE_LOG}" }`,
      MetricTransformations: [
        Match.objectLike({
          MetricNamespace: 'MailArchiver',
          MetricName: 'GmailAuthFailures',
          MetricValue: '1',
        }),
      ],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'MailArchiver',
      MetricName: 'GmailAuthFailures',
      Threshold: 0,
      AlarmDescription: Match.stringLikeRegexp('gmail-auth'),
    });
  });
});
