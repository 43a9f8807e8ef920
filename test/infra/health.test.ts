// The stack's health alarms: the heartbeats of the scheduled steps (an alarm when a step has not succeeded for
// twice its period), as CloudWatch evaluates them: hourly periods, every one of them missing or below one success;
// and the canary: its schedule, its alarms, its function's environment. (What its role may do is evaluated in
// policy.test.ts.)
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CANARY_FAILED_METRIC,
  CANARY_SERVICE,
  INGEST_SERVICE,
  MESSAGES_RECEIVED_METRIC,
  METRICS_NAMESPACE,
  RECONCILE_SERVICE,
  SCHEDULED_RUN_SUCCEEDED_METRIC,
} from '../../shared/metrics';
import { exampleConfig } from '../support/config';
import { synthesize } from './synth';
import { TemplateModel } from './template-model';

let model: TemplateModel;

beforeAll(() => {
  const { template: t } = synthesize();
  model = new TemplateModel('TestArchiver', t.toJSON().Resources);
});

describe('heartbeats of the scheduled steps', () => {
  it('the scheduled reconcile (every 6 hours) alarms when no run succeeded in 12 hours, missing data breaching', () => {
    const [, fn] = model.find('AWS::Lambda::Function', 'ReconcileFunction');
    expect(fn.Properties).toMatchObject({
      Environment: { Variables: { RECONCILE_EVERY_MINUTES: '360', RECONCILE_FULL_EVERY_MINUTES: '10080' } },
    });
    const [, alarm] = model.find('AWS::CloudWatch::Alarm', 'ReconcileHeartbeatAlarm');
    expect(alarm.Properties).toMatchObject({
      AlarmName: 'TestArchiver-ReconcileHeartbeatAlarm',
      Namespace: METRICS_NAMESPACE,
      MetricName: SCHEDULED_RUN_SUCCEEDED_METRIC,
      Dimensions: [{ Name: 'service', Value: RECONCILE_SERVICE }],
      Statistic: 'Sum',
      Period: 3600,
      EvaluationPeriods: 12,
      DatapointsToAlarm: 12,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
      AlarmActions: [{ Ref: model.find('AWS::SNS::Topic', 'AlarmTopic')[0] }],
    });
  });

  it('the reconcile function emits its heartbeat under the dimension the alarm watches', () => {
    const [, fn] = model.find('AWS::Lambda::Function', 'ReconcileFunction');
    expect(fn.Properties).toMatchObject({
      Environment: { Variables: { POWERTOOLS_SERVICE_NAME: RECONCILE_SERVICE } },
    });
  });
});

describe('the canary', () => {
  it('runs every 6 hours by default, once per schedule (no retry: a retry would send a second canary)', () => {
    const [fnId, fn] = model.find('AWS::Lambda::Function', 'HealthCanaryFunction');
    expect(fn.Properties).toMatchObject({
      Environment: { Variables: { POWERTOOLS_SERVICE_NAME: CANARY_SERVICE } },
      Timeout: 300,
    });
    const [, rule] = model.find('AWS::Events::Rule', 'CanarySchedule');
    expect(rule.Properties).toMatchObject({
      ScheduleExpression: 'rate(6 hours)',
      State: 'ENABLED',
      Targets: [{ Arn: { 'Fn::GetAtt': [fnId, 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 0 } }],
    });
    const [, invokeConfig] = model.find(
      'AWS::Lambda::EventInvokeConfig',
      'HealthCanaryFunctionEventInvokeConfig',
    );
    expect(invokeConfig.Properties).toMatchObject({ MaximumRetryAttempts: 0 });
  });

  it('alarms when a run finds its canary late or lost (one data point per run, kept until the next)', () => {
    const [, alarm] = model.find('AWS::CloudWatch::Alarm', 'CanaryFailedAlarm');
    expect(alarm.Properties).toMatchObject({
      AlarmName: 'TestArchiver-CanaryFailedAlarm',
      Namespace: METRICS_NAMESPACE,
      MetricName: CANARY_FAILED_METRIC,
      Dimensions: [{ Name: 'service', Value: CANARY_SERVICE }],
      Statistic: 'Maximum',
      Period: 6 * 3600,
      EvaluationPeriods: 1,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: model.find('AWS::SNS::Topic', 'AlarmTopic')[0] }],
    });
  });

  it('alarms when no run ended for twice its period, missing data breaching', () => {
    const [, alarm] = model.find('AWS::CloudWatch::Alarm', 'CanaryHeartbeatAlarm');
    expect(alarm.Properties).toMatchObject({
      MetricName: SCHEDULED_RUN_SUCCEEDED_METRIC,
      Dimensions: [{ Name: 'service', Value: CANARY_SERVICE }],
      Period: 3600,
      EvaluationPeriods: 12,
      DatapointsToAlarm: 12,
      TreatMissingData: 'breaching',
    });
  });

  it('follows health.canary.everyHours, and is not deployed at all when the canary is off', () => {
    const every2 = synthesize(exampleConfig({ health: { canary: { everyHours: 2, windowMinutes: 30 } } }));
    const t2 = new TemplateModel('TestArchiver', every2.template.toJSON().Resources);
    expect(t2.find('AWS::Events::Rule', 'CanarySchedule')[1].Properties).toMatchObject({
      ScheduleExpression: 'rate(2 hours)',
    });
    expect(t2.find('AWS::CloudWatch::Alarm', 'CanaryFailedAlarm')[1].Properties).toMatchObject({
      Period: 7200,
    });
    expect(t2.find('AWS::CloudWatch::Alarm', 'CanaryHeartbeatAlarm')[1].Properties).toMatchObject({
      EvaluationPeriods: 4,
    });
    const off = synthesize(exampleConfig({ health: { canary: { enabled: false } } }));
    const ids = Object.keys(off.template.toJSON().Resources);
    expect(ids.filter((id) => id.startsWith('Health'))).toEqual([]);
  });
});

describe('the silence alarm', () => {
  it('is off by default; with health.silenceAlarmHours it alarms when ingest archived nothing (canaries aside) for that long', () => {
    expect(model.ofType('AWS::CloudWatch::Alarm').filter(([id]) => id.includes('Silence'))).toEqual([]);
    const on = synthesize(exampleConfig({ health: { silenceAlarmHours: 48 } }));
    const t = new TemplateModel('TestArchiver', on.template.toJSON().Resources);
    expect(t.find('AWS::CloudWatch::Alarm', 'SilenceAlarm')[1].Properties).toMatchObject({
      AlarmName: 'TestArchiver-SilenceAlarm',
      Namespace: METRICS_NAMESPACE,
      MetricName: MESSAGES_RECEIVED_METRIC,
      Dimensions: [{ Name: 'service', Value: INGEST_SERVICE }],
      Statistic: 'Sum',
      Period: 3600,
      EvaluationPeriods: 48,
      DatapointsToAlarm: 48,
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 1,
      TreatMissingData: 'breaching',
    });
    expect(t.find('AWS::Lambda::Function', 'IngestFunction')[1].Properties).toMatchObject({
      Environment: { Variables: { POWERTOOLS_SERVICE_NAME: INGEST_SERVICE } },
    });
  });
});

describe('canaries expire', () => {
  it('a lifecycle rule on the canary tag expires them after health.canary.keepDays (14), their noncurrent version a day later', () => {
    const rulesOf = (m: TemplateModel) =>
      (
        m.find('AWS::S3::Bucket', 'RawMailBucket')[1].Properties as {
          LifecycleConfiguration: { Rules: Record<string, unknown>[] };
        }
      ).LifecycleConfiguration.Rules;
    const rules = rulesOf(model);
    expect(rules.find((r) => r.Id === 'ExpireCanaries')).toEqual({
      Id: 'ExpireCanaries',
      Status: 'Enabled',
      TagFilters: [{ Key: 'mail-archiver:canary', Value: '1' }],
      ExpirationInDays: 14,
      NoncurrentVersionExpiration: { NoncurrentDays: 1 },
    });
    // Only lone delete markers are removed (no version left behind them), and nothing else of raw mail expires.
    for (const prefix of ['incoming/', 'envelopes/']) {
      expect(rules.filter((r) => r.Prefix === prefix && r.ExpiredObjectDeleteMarker === true)).toHaveLength(
        1,
      );
    }
    const expiring = rules.filter((r) => r.ExpirationInDays !== undefined || r.NoncurrentVersionExpiration);
    expect(expiring.map((r) => r.Prefix ?? r.TagFilters)).toEqual([
      'exports/',
      [{ Key: 'mail-archiver:canary', Value: '1' }],
    ]);
    const keep5 = synthesize(exampleConfig({ health: { canary: { keepDays: 5 } } }));
    const t5 = new TemplateModel('TestArchiver', keep5.template.toJSON().Resources);
    expect(rulesOf(t5).find((r) => r.Id === 'ExpireCanaries')).toMatchObject({
      ExpirationInDays: 5,
    });
  });

  it('the index table deletes canary rows by DynamoDB TTL on expiresAt', () => {
    const [, table] = model.find('AWS::DynamoDB::Table', 'IndexTable');
    expect(table.Properties?.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
  });

  it('keepDays must stay below archiveTransitionDays, naming the field', () => {
    expect(() =>
      exampleConfig({ archiveTransitionDays: 30, health: { canary: { keepDays: 29 } } }),
    ).not.toThrow();
    expect(() => exampleConfig({ archiveTransitionDays: 30, health: { canary: { keepDays: 30 } } })).toThrow(
      /health\.canary\.keepDays/,
    );
  });
});
