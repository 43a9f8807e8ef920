// Operator alarms: every alarm of the archiver notifies one SNS topic, which emails the operator. The topic and
// the other archiver topics are encrypted with one customer managed key (the messaging key).
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import {
  Alarm,
  type AlarmProps,
  ComparisonOperator,
  type IMetric,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IGrantable } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct, type IConstruct } from 'constructs';
import { METRICS_NAMESPACE, SCHEDULED_RUN_SUCCEEDED_METRIC } from '../../shared/metrics';
import { allowServiceToPublish } from './service-publishing';

/** Props of {@link OperatorAlarms}. */
export interface OperatorAlarmsProps {
  /** Where every alarm is emailed (the subscription must be confirmed from that mailbox). */
  readonly alarmEmail: string;
}

/**
 * Props of one alarm: unless they say otherwise, it fires on one evaluation period and missing data counts as
 * fine.
 */
export type OperatorAlarmProps = Omit<AlarmProps, 'evaluationPeriods' | 'treatMissingData'> &
  Partial<Pick<AlarmProps, 'evaluationPeriods' | 'treatMissingData'>>;

/**
 * Operator alarms: every alarm of the archiver notifies one SNS topic with an email subscription, and one
 * customer managed KMS key (the messaging key) encrypts it and the other archiver topics. Grants: CloudWatch
 * alarms may publish into the topic with the key; other services are allowed by the construct that needs them.
 */
export class OperatorAlarms extends Construct {
  /** Encrypts the archiver's SNS topics (receipt notifications, sending feedback, alarms). */
  readonly messagingKey: Key;
  /** The topic every alarm notifies. */
  readonly topic: Topic;
  private readonly action: SnsAction;

  constructor(scope: Construct, id: string, props: OperatorAlarmsProps) {
    super(scope, id);
    this.messagingKey = new Key(this, 'MessagingKey', {
      description: 'Encrypts the archiver SNS topics (receipt notifications and alarms)',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.topic = new Topic(this, 'AlarmTopic', { masterKey: this.messagingKey, enforceSSL: true });
    // CloudWatch publishes alarm notifications on behalf of the alarm (aws:SourceArn is the alarm's ARN); every
    // alarm of the stack is named "<stack name>-<id>".
    const stack = Stack.of(this);
    allowServiceToPublish(this.topic, this.messagingKey, {
      service: 'cloudwatch.amazonaws.com',
      sourceArn: `arn:${stack.partition}:cloudwatch:${stack.region}:${stack.account}:alarm:${this.alarmName('*')}`,
    });
    this.topic.addSubscription(new EmailSubscription(props.alarmEmail));
    this.action = new SnsAction(this.topic);
  }

  /** The name of the alarm with construct id `id`: `<stack name>-<id>`. */
  alarmName(id: string): string {
    return `${Stack.of(this).stackName}-${id}`;
  }

  /** An alarm that notifies the operator, named `<stack name>-<id>`. */
  alarm(id: string, props: OperatorAlarmProps): Alarm {
    const alarm = new Alarm(this, id, {
      alarmName: this.alarmName(id),
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      ...props,
    });
    alarm.addAlarmAction(this.action);
    return alarm;
  }

  /**
   * sns:Publish on the alarm topic, with the messaging key's kms:GenerateDataKey* and kms:Decrypt (aws-cdk-lib's
   * grant adds them for an encrypted topic): the seal function mails each new checkpoint through it.
   */
  grantPublish(grantee: IGrantable & IConstruct): void {
    this.topic.grantPublish(grantee);
    const role = (grantee as { role?: IConstruct }).role ?? grantee;
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      reason:
        'A publisher to an SNS topic encrypted with a customer managed key needs kms:GenerateDataKey* and kms:Decrypt on that key (SNS developer guide, "Key management"); the grant names the one messaging key',
    });
  }

  /** An alarm when `metric` (a count over its period) is above zero. */
  alarmWhenAboveZero(id: string, metric: IMetric, alarmDescription: string): Alarm {
    return this.alarm(id, {
      alarmDescription,
      metric,
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
    });
  }

  /**
   * The heartbeat alarm of a scheduled step: fires when the step's `ScheduledRunSucceeded` metric (emitted with
   * `service` as its dimension) has no data point in any of the last `hours` hours. Missing data is breaching,
   * which is the point (a step that stopped emits nothing); hourly periods keep the evaluation range within
   * CloudWatch's limit for periods of an hour or more (7 days, PutMetricAlarm's Period documentation). A new
   * stack's alarm may fire before the step's first run: CloudWatch has no data point for it yet.
   */
  alarmWhenSilent(
    id: string,
    props: {
      service: string;
      hours: number;
      alarmDescription: string;
      /** @default SCHEDULED_RUN_SUCCEEDED_METRIC (a heartbeat); another count the service emits otherwise */
      metricName?: string;
    },
  ): Alarm {
    if (!Number.isInteger(props.hours) || props.hours < 1 || props.hours > 168) {
      throw new RangeError(`${id}: a heartbeat alarm covers 1 to 168 whole hours, not ${props.hours}`);
    }
    return this.alarm(id, {
      alarmDescription: props.alarmDescription,
      metric: new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: props.metricName ?? SCHEDULED_RUN_SUCCEEDED_METRIC,
        dimensionsMap: { service: props.service },
        statistic: 'Sum',
        period: Duration.hours(1),
      }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: props.hours,
      datapointsToAlarm: props.hours,
      treatMissingData: TreatMissingData.BREACHING,
    });
  }
}
