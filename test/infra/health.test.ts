// The stack's health alarms: the heartbeats of the scheduled steps (an alarm when a step has not succeeded for
// twice its period), as CloudWatch evaluates them: hourly periods, every one of them missing or below one success.
import { beforeAll, describe, expect, it } from 'vitest';
import { METRICS_NAMESPACE, RECONCILE_SERVICE, SCHEDULED_RUN_SUCCEEDED_METRIC } from '../../shared/metrics';
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
    expect(fn.Properties).toMatchObject({ Environment: { Variables: { RECONCILE_EVERY_MINUTES: '360' } } });
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
