// Forwarding: archived -> forwarded. A durable queue (with a dead-letter queue for parked sends) feeds the
// forward function, which sends raw copies with SES v2 through a configuration set whose bounce and complaint
// events reach the feedback function, which records them in the forwarding ledger.
import { Duration, Stack, Validations } from 'aws-cdk-lib';
import { ComparisonOperator, Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { type IGrantable, PolicyStatement, type Role } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { ConfigurationSet, EmailSendingEvent, EventDestination } from 'aws-cdk-lib/aws-ses';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { LambdaSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { type ArchiverConfig, forwardingFrom, gmailApiTargets } from '../../shared/config';
import { ArchiverFunction } from './archiver-function';
import { GmailDelivery } from './gmail-delivery';
import type { IndexTable } from './index-table';
import { FORWARD_MEMORY_MB } from './lambda-memory';
import type { OperatorAlarms } from './operator-alarms';
import { durableQueue, visibilityTimeoutFor } from './queues';
import type { RawMailStore } from './raw-mail-store';
import { allowServiceToEncryptWith } from './service-publishing';

/** Props of {@link Forwarding}. */
export interface ForwardingProps {
  readonly config: ArchiverConfig;
  /** The raw-mail bucket, on whose prefixes this construct grants its functions access. */
  readonly rawMail: RawMailStore;
  /** The index table, on which this construct grants its functions item (and where needed query) access. */
  readonly index: IndexTable;
  /** Where this construct's alarms notify the operator. */
  readonly alarms: OperatorAlarms;
  /** The customer managed key that encrypts the feedback topic (SES is allowed to encrypt with it). */
  readonly messagingKey: IKey;
}

/**
 * Forwarding (archived -> forwarded): the forward queue and its dead-letter queue, the forward function, the SES
 * configuration set, and the feedback function that records bounces and complaints of forwarded copies.
 * Grants: the forward function reads raw mail (incoming/*), `ses:SendEmail` only from the forwarder address,
 * item access on the index table, `sqs:SendMessage` on its dead-letter queue; the feedback function `GetItem`
 * and `UpdateItem` on the index table; SES may publish feedback into the KMS-encrypted topic.
 * {@link grantEnqueue} lets others enqueue forwards.
 */
export class Forwarding extends Construct {
  /** One message per archived message that has forwarding targets. */
  readonly queue: Queue;
  /** Parked sends: permanent failures and exhausted retries. */
  readonly deadLetterQueue: Queue;
  /** Sends each copy (SES v2 raw send, or the Gmail API), exactly once per target (2 min timeout). */
  readonly function: ArchiverFunction;
  /** The feedback function (lambdas/feedback): records SES bounces and complaints of forwarded copies in the ledger. */
  readonly feedbackFunction: ArchiverFunction;
  /** Bounce and complaint events the feedback function failed on (its on-failure destination). */
  readonly feedbackDeadLetterQueue: Queue;
  /** The SES configuration set of every forward; its bounce, complaint and reject events go to the feedback topic. */
  readonly configurationSet: ConfigurationSet;
  /** Gmail API delivery (credentials, Sent collection, authorisation alarm), when a target uses it. */
  readonly gmail?: GmailDelivery;

  constructor(scope: Construct, id: string, props: ForwardingProps) {
    super(scope, id);
    const { config, rawMail, index, alarms } = props;
    const stack = Stack.of(this);
    const timeout = Duration.minutes(2);

    this.deadLetterQueue = durableQueue(this, 'ForwardDeadLetterQueue');
    this.queue = durableQueue(this, 'ForwardQueue', {
      visibilityTimeout: visibilityTimeoutFor(timeout),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: 6 },
    });

    this.configurationSet = new ConfigurationSet(this, 'ForwardingConfigurationSet', {
      reputationMetrics: true,
      sendingEnabled: true,
    });
    const feedbackTopic = new Topic(this, 'ForwardFeedbackTopic', {
      masterKey: props.messagingKey,
      enforceSSL: true,
    });
    const configurationSetArn = `arn:${stack.partition}:ses:${stack.region}:${stack.account}:configuration-set/${this.configurationSet.configurationSetName}`;
    // SES publishes sending events on behalf of the configuration set (aws:SourceArn is its ARN). aws-cdk-lib's
    // EventDestination.snsTopic adds the topic policy statement (pinned to the set); the key needs its own.
    allowServiceToEncryptWith(props.messagingKey, {
      service: 'ses.amazonaws.com',
      sourceArn: configurationSetArn,
    });
    const destination = this.configurationSet.addEventDestination('Feedback', {
      destination: EventDestination.snsTopic(feedbackTopic),
      events: [EmailSendingEvent.BOUNCE, EmailSendingEvent.COMPLAINT, EmailSendingEvent.REJECT],
    });
    const feedbackTopicPolicy = feedbackTopic.node.tryFindChild('Policy');
    if (feedbackTopicPolicy) destination.node.addDependency(feedbackTopicPolicy);

    this.function = new ArchiverFunction(this, 'ForwardFunction', {
      entry: 'lambdas/forward/index.ts',
      description: 'Forwards one copy of each archived message to its mailbox targets, exactly once',
      memorySize: FORWARD_MEMORY_MB,
      timeout,
      config: config,
      environment: {
        INDEX_TABLE: index.table.tableName,
        CONFIGURATION_SET: this.configurationSet.configurationSetName,
        FORWARD_DEAD_LETTER_QUEUE_URL: this.deadLetterQueue.queueUrl,
        POWERTOOLS_SERVICE_NAME: 'mail-archiver-forward',
      },
    });
    this.function.addEventSource(
      new SqsEventSource(this.queue, { batchSize: 5, reportBatchItemFailures: true, maxConcurrency: 5 }),
    );
    rawMail.grantRawMailRead(this.function, 'forwarder');
    // SES authorizes a send against every identity it involves: the sender's, the configuration set, and (in
    // the sandbox, where every recipient is verified) the recipient's identity too. Listing identities made every
    // sandbox forward AccessDenied; the condition on the From address allows exactly the forwarder's sends.
    this.function.addToRolePolicy(
      new PolicyStatement({
        // SES v2 SendEmail (raw content included) is authorized as ses:SendEmail.
        actions: ['ses:SendEmail'],
        resources: ['*'],
        conditions: { StringEquals: { 'ses:FromAddress': forwardingFrom(config) } },
      }),
    );
    Validations.of(this.function.role as Role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'SES sends are limited by the ses:FromAddress condition to the forwarder address; SES also checks the recipient identity, which cannot be listed',
    });
    // Item access on the table itself only: the forwarder never queries the GSIs.
    index.grantItems(this.function, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    // Parking a request is one SendMessage (the queue is SQS-managed encrypted: no key grant needed).
    this.deadLetterQueue.grant(this.function, 'sqs:SendMessage');

    // SNS invokes the feedback function asynchronously: after Lambda's two retries, the event is kept here.
    this.feedbackDeadLetterQueue = durableQueue(this, 'ForwardFeedbackDeadLetterQueue');
    Validations.of(this.feedbackDeadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: "It is a dead-letter queue itself: the feedback function's on-failure destination",
    });
    this.feedbackFunction = new ArchiverFunction(this, 'ForwardFeedbackFunction', {
      onFailure: new SqsDestination(this.feedbackDeadLetterQueue),
      entry: 'lambdas/feedback/index.ts',
      description: 'Records bounces and complaints of forwarded copies in the forwarding ledger',
      memorySize: 256,
      environment: {
        INDEX_TABLE: index.table.tableName,
        POWERTOOLS_SERVICE_NAME: 'mail-archiver-feedback',
      },
    });
    feedbackTopic.addSubscription(new LambdaSubscription(this.feedbackFunction));
    alarms.alarmWhenAboveZero(
      'ForwardFeedbackErrorsAlarm',
      this.feedbackFunction.metricErrors({ period: Duration.minutes(5) }),
      'The feedback function failed: a bounce or complaint may not be in the ledger yet',
    );
    alarms.alarmWhenAboveZero(
      'ForwardFeedbackDeadLettersAlarm',
      this.feedbackDeadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) }),
      'A bounce or complaint event could not be recorded after retries: it waits in the feedback dead-letter queue',
    );
    index.grantItems(this.feedbackFunction, 'dynamodb:GetItem', 'dynamodb:UpdateItem');

    if (gmailApiTargets(config).length > 0) {
      this.gmail = new GmailDelivery(this, 'GmailDelivery', {
        config,
        forwardFunction: this.function,
        rawMail,
        index,
        alarms,
      });
    }

    alarms.alarm('ForwardBounceRateAlarm', {
      alarmDescription: `The bounce rate of mail sent by this account reached ${config.forwarding.bounceRateAlarm * 100}% (SES reviews accounts at 10%): stop forwarding and look at the ledger`,
      metric: new Metric({
        namespace: 'AWS/SES',
        metricName: 'Reputation.BounceRate',
        period: Duration.hours(1),
        statistic: 'Maximum',
      }),
      threshold: config.forwarding.bounceRateAlarm,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    alarms.alarmWhenAboveZero(
      'ForwardDeadLettersAlarm',
      this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5) }),
      'A forward was parked (permanent failure or retries exhausted): see `mail-archiver forwards --state failed`, then `redrive`',
    );
    alarms.alarmWhenAboveZero(
      'ForwardErrorsAlarm',
      this.function.metricErrors({ period: Duration.minutes(5) }),
      'The forward function failed',
    );
  }

  /** Lets `grantee` enqueue messages to forward. */
  grantEnqueue(grantee: IGrantable): void {
    this.queue.grant(grantee, 'sqs:SendMessage');
  }
}
