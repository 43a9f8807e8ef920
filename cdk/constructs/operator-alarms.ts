// Operator alarms: every alarm of the archiver notifies one SNS topic, which emails the operator. The topic and
// the other archiver topics are encrypted with one customer managed key (the messaging key).
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import {
  Alarm,
  type AlarmProps,
  ComparisonOperator,
  type IMetric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { allowServiceToPublish } from './service-publishing';

/** Props of {@link OperatorAlarms}. */
export interface OperatorAlarmsProps {
  /** Where every alarm is emailed (the subscription must be confirmed from that mailbox). */
  readonly alarmEmail: string;
}

/** Props of one alarm: it fires on one evaluation period; missing data counts as fine. */
export type OperatorAlarmProps = Omit<AlarmProps, 'evaluationPeriods' | 'treatMissingData'>;

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

  /** An alarm when `metric` (a count over its period) is above zero. */
  alarmWhenAboveZero(id: string, metric: IMetric, alarmDescription: string): Alarm {
    return this.alarm(id, {
      alarmDescription,
      metric,
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
    });
  }
}
