// The deployable archiver: SES receives -> S3 keeps the raw bytes -> SNS -> SQS (+DLQ) -> ingest Lambda ->
// DynamoDB index. Stateful resources are retained when the stack is deleted: they hold the user's mail.
import {
  type CfnElement,
  CfnOutput,
  Duration,
  RemovalPolicy,
  Size,
  Stack,
  type StackProps,
  Validations,
} from 'aws-cdk-lib';
import {
  Alarm,
  type AlarmProps,
  ComparisonOperator,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, type Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { CnameRecord, HostedZone, MxRecord } from 'aws-cdk-lib/aws-route53';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  ObjectOwnership,
  StorageClass,
} from 'aws-cdk-lib/aws-s3';
import {
  ConfigurationSet,
  EmailIdentity,
  EmailSendingEvent,
  EventDestination,
  Identity,
  type IReceiptRuleAction,
  ReceiptRuleSet,
  TlsPolicy,
} from 'aws-cdk-lib/aws-ses';
import * as sesActions from 'aws-cdk-lib/aws-ses-actions';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription, LambdaSubscription, SqsSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { AwsCustomResource, AwsCustomResourcePolicy, PhysicalResourceId } from 'aws-cdk-lib/custom-resources';
import type { Construct } from 'constructs';
import { type ArchiverConfig, receivingDomains } from '../shared/config';
import {
  ENVELOPE_PREFIX,
  EXPORT_PREFIX,
  indexTableDefinition,
  RAW_MAIL_PREFIX,
} from '../shared/index-schema';
import { ArchiverFunction } from './constructs/archiver-function';

export interface ArchiverStackProps extends StackProps {
  readonly config: ArchiverConfig;
}

/** The construct id aws-cdk-lib gives the function behind every AwsCustomResource. */
const AWS_CUSTOM_RESOURCE_SINGLETON_ID = 'AWS679f53fac002430cb0da5b7982bd2287';

const attributeType = (type: 'S' | 'N') => (type === 'S' ? AttributeType.STRING : AttributeType.NUMBER);

export class ArchiverStack extends Stack {
  readonly rawMailBucket: Bucket;
  readonly indexTable: Table;
  readonly ingestQueue: Queue;
  readonly ingestDeadLetterQueue: Queue;
  readonly ingestFunction: ArchiverFunction;
  readonly exportFunction: ArchiverFunction;
  readonly forwardQueue: Queue;
  readonly forwardDeadLetterQueue: Queue;
  readonly forwardFunction: ArchiverFunction;

  constructor(scope: Construct, id: string, props: ArchiverStackProps) {
    super(scope, id, props);
    const { config } = props;
    const domains = receivingDomains(config);

    // --- Alarms go to the operator by email. ---------------------------------------------------------
    const messagingKey = new Key(this, 'MessagingKey', {
      description: 'Encrypts the archiver SNS topics (receipt notifications and alarms)',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    for (const service of ['ses.amazonaws.com', 'cloudwatch.amazonaws.com']) {
      messagingKey.addToResourcePolicy(
        new PolicyStatement({
          actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
          principals: [new ServicePrincipal(service)],
          resources: ['*'],
          conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
        }),
      );
    }
    const alarmTopic = new Topic(this, 'AlarmTopic', { masterKey: messagingKey, enforceSSL: true });
    alarmTopic.addSubscription(new EmailSubscription(config.alarmEmail));
    const alarmAction = new SnsAction(alarmTopic);
    /** Every alarm: one evaluation period, missing data is fine, notified to the alarm address. */
    const alarm = (id: string, props: Omit<AlarmProps, 'evaluationPeriods' | 'treatMissingData'>) =>
      new Alarm(this, id, {
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        ...props,
      }).addAlarmAction(alarmAction);

    // --- Raw mail: the source of truth. ------------------------------------------------------------------
    const accessLogs = new Bucket(this, 'AccessLogBucket', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_PREFERRED,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ expiration: Duration.days(365) }],
    });
    this.rawMailBucket = new Bucket(this, 'RawMailBucket', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'raw-mail/',
      lifecycleRules: [
        {
          // Bundles are for download; the raw mail they are built from stays.
          prefix: EXPORT_PREFIX,
          expiration: Duration.days(7),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
        {
          prefix: RAW_MAIL_PREFIX,
          transitions: [
            {
              storageClass: StorageClass.GLACIER_INSTANT_RETRIEVAL,
              transitionAfter: Duration.days(config.archiveTransitionDays),
            },
          ],
          noncurrentVersionExpiration: Duration.days(365),
        },
      ],
    });

    // --- Index. ------------------------------------------------------------------------------------------
    const def = indexTableDefinition;
    this.indexTable = new Table(this, 'IndexTable', {
      partitionKey: { name: def.partitionKey.name, type: attributeType(def.partitionKey.type) },
      sortKey: { name: def.sortKey.name, type: attributeType(def.sortKey.type) },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      encryption: TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    for (const gsi of def.globalSecondaryIndexes) {
      this.indexTable.addGlobalSecondaryIndex({
        indexName: gsi.indexName,
        partitionKey: { name: gsi.partitionKey.name, type: attributeType(gsi.partitionKey.type) },
        sortKey: { name: gsi.sortKey.name, type: attributeType(gsi.sortKey.type) },
      });
    }

    // --- Stored -> processed: a durable queue, so no message depends on one invocation. ---------------------
    const receivedTopic = new Topic(this, 'ReceivedTopic', { masterKey: messagingKey, enforceSSL: true });
    receivedTopic.addToResourcePolicy(
      new PolicyStatement({
        actions: ['sns:Publish'],
        principals: [new ServicePrincipal('ses.amazonaws.com')],
        resources: [receivedTopic.topicArn],
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
    );
    this.ingestDeadLetterQueue = new Queue(this, 'IngestDeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const ingestTimeout = Duration.minutes(5);
    this.ingestQueue = new Queue(this, 'IngestQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      // Six times the function timeout, as Lambda's SQS integration recommends.
      visibilityTimeout: Duration.minutes(30),
      deadLetterQueue: { queue: this.ingestDeadLetterQueue, maxReceiveCount: 5 },
    });
    receivedTopic.addSubscription(new SqsSubscription(this.ingestQueue, { rawMessageDelivery: true }));

    // --- Forwarding queue: archived -> forwarded, with its own dead-letter queue (parked sends). ---------
    this.forwardDeadLetterQueue = new Queue(this, 'ForwardDeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.forwardQueue = new Queue(this, 'ForwardQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      visibilityTimeout: Duration.minutes(12),
      deadLetterQueue: { queue: this.forwardDeadLetterQueue, maxReceiveCount: 6 },
    });

    const configJson = JSON.stringify(config);
    this.ingestFunction = new ArchiverFunction(this, 'IngestFunction', {
      entry: 'lambdas/ingest/index.ts',
      description: 'Indexes each raw message stored by SES into the DynamoDB index',
      // 40 MB messages are streamed, so memory is for CPU share, not for holding mail.
      memorySize: 1024,
      timeout: ingestTimeout,
      environment: {
        ARCHIVER_CONFIG: configJson,
        INDEX_TABLE: this.indexTable.tableName,
        RAW_BUCKET: this.rawMailBucket.bucketName,
        FORWARD_QUEUE_URL: this.forwardQueue.queueUrl,
        POWERTOOLS_SERVICE_NAME: 'mail-archiver-ingest',
      },
    });
    this.forwardQueue.grantSendMessages(this.ingestFunction);
    this.ingestFunction.addToRolePolicy(
      new PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [this.rawMailBucket.arnForObjects(`${ENVELOPE_PREFIX}*`)],
      }),
    );
    this.ingestFunction.addEventSource(
      new SqsEventSource(this.ingestQueue, {
        batchSize: 10,
        reportBatchItemFailures: true,
        maxConcurrency: 20,
      }),
    );
    this.grantRawMailRead(this.ingestFunction, 'ingest function');
    this.indexTable.grant(
      this.ingestFunction,
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:Query',
    );

    // --- Forwarding: SESv2 raw sends from the verified identity, with bounce/complaint feedback. ---------
    const configurationSet = new ConfigurationSet(this, 'ForwardingConfigurationSet', {
      reputationMetrics: true,
      sendingEnabled: true,
    });
    const feedbackTopic = new Topic(this, 'ForwardFeedbackTopic', {
      masterKey: messagingKey,
      enforceSSL: true,
    });
    configurationSet.addEventDestination('Feedback', {
      destination: EventDestination.snsTopic(feedbackTopic),
      events: [EmailSendingEvent.BOUNCE, EmailSendingEvent.COMPLAINT, EmailSendingEvent.REJECT],
    });
    this.forwardFunction = new ArchiverFunction(this, 'ForwardFunction', {
      entry: 'lambdas/forward/index.ts',
      description: 'Forwards one copy of each archived message to its mailbox targets, exactly once',
      memorySize: 1024,
      timeout: Duration.minutes(2),
      environment: {
        ARCHIVER_CONFIG: configJson,
        INDEX_TABLE: this.indexTable.tableName,
        CONFIGURATION_SET: configurationSet.configurationSetName,
        FORWARD_DEAD_LETTER_QUEUE_URL: this.forwardDeadLetterQueue.queueUrl,
        POWERTOOLS_SERVICE_NAME: 'mail-archiver-forward',
      },
    });
    this.forwardFunction.addEventSource(
      new SqsEventSource(this.forwardQueue, {
        batchSize: 5,
        reportBatchItemFailures: true,
        maxConcurrency: 5,
      }),
    );
    this.grantRawMailRead(this.forwardFunction, 'forwarder');
    this.forwardFunction.addToRolePolicy(
      new PolicyStatement({
        actions: ['ses:SendEmail', 'ses:SendRawEmail'],
        resources: [
          ...config.domains.map(
            (d) => `arn:${this.partition}:ses:${this.region}:${this.account}:identity/${d}`,
          ),
          `arn:${this.partition}:ses:${this.region}:${this.account}:configuration-set/${configurationSet.configurationSetName}`,
        ],
      }),
    );
    // Item access on the table itself only: the forwarder never queries the GSIs.
    this.forwardFunction.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        resources: [this.indexTable.tableArn],
      }),
    );
    this.forwardDeadLetterQueue.grantSendMessages(this.forwardFunction);
    const feedbackFunction = new ArchiverFunction(this, 'ForwardFeedbackFunction', {
      entry: 'lambdas/forward-events/index.ts',
      description: 'Records bounces and complaints of forwarded copies in the forwarding ledger',
      memorySize: 256,
      environment: {
        INDEX_TABLE: this.indexTable.tableName,
        POWERTOOLS_SERVICE_NAME: 'mail-archiver-forward-events',
      },
    });
    feedbackTopic.addSubscription(new LambdaSubscription(feedbackFunction));
    feedbackFunction.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
        resources: [this.indexTable.tableArn],
      }),
    );
    alarm('ForwardBounceRateAlarm', {
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
    alarm('ForwardDeadLettersAlarm', {
      alarmDescription:
        'A forward was parked (permanent failure or retries exhausted): see `mail-archiver forwards --state failed`, then `redrive`',
      metric: this.forwardDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
      }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
    });

    // --- Export: on demand, asynchronously invoked by the CLI. ----------------------------------------------
    // A fixed name, so that the function may invoke itself (one invocation per part) without a circular reference.
    const exportFunctionName = `${this.stackName}-export`;
    this.exportFunction = new ArchiverFunction(this, 'ExportFunction', {
      functionName: exportFunctionName,
      entry: 'lambdas/export/index.ts',
      description: 'Builds a maildir or mboxrd bundle of one mailbox into S3 (exports/)',
      // CPU share for gzip; memory itself stays flat (streams all the way).
      memorySize: 2048,
      timeout: Duration.minutes(15),
      ephemeralStorageSize: Size.gibibytes(10),
      retryAttempts: 0,
      environment: {
        INDEX_TABLE: this.indexTable.tableName,
        RAW_BUCKET: this.rawMailBucket.bucketName,
        POWERTOOLS_SERVICE_NAME: 'mail-archiver-export',
      },
    });
    this.grantRawMailRead(this.exportFunction, 'exporter');
    this.exportFunction.addToRolePolicy(
      new PolicyStatement({
        actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
        resources: [this.rawMailBucket.arnForObjects(`${EXPORT_PREFIX}*`)],
      }),
    );
    this.indexTable.grant(
      this.exportFunction,
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:Query',
    );
    this.exportFunction.addToRolePolicy(
      new PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [
          `arn:${this.partition}:lambda:${this.region}:${this.account}:function:${exportFunctionName}`,
        ],
      }),
    );

    // --- SES receiving. --------------------------------------------------------------------------------------
    const zone = config.route53
      ? HostedZone.fromHostedZoneAttributes(this, 'Zone', {
          hostedZoneId: config.route53.hostedZoneId,
          zoneName: config.route53.zoneName,
        })
      : undefined;
    const inZone = (domain: string) =>
      config.route53 !== undefined &&
      (domain === config.route53.zoneName || domain.endsWith(`.${config.route53.zoneName}`));
    const inboundEndpoint = `inbound-smtp.${this.region}.amazonaws.com`;

    config.domains.forEach((domain, i) => {
      const identity = new EmailIdentity(this, `DomainIdentity${i}`, { identity: Identity.domain(domain) });
      identity.dkimRecords.forEach((record, j) => {
        new CfnOutput(this, `DkimRecord${i}x${j}`, {
          description: `DKIM CNAME for ${domain}: create it in your DNS`,
          value: `${record.name} CNAME ${record.value}`,
        });
        if (zone && inZone(domain)) {
          new CnameRecord(this, `DkimCname${i}x${j}`, {
            zone,
            recordName: record.name,
            domainName: record.value,
          });
        }
      });
    });
    domains.forEach((domain, i) => {
      new CfnOutput(this, `MxRecord${i}`, {
        description: `MX record for ${domain}: points its mail at SES`,
        value: `${domain} MX 10 ${inboundEndpoint}`,
      });
      if (zone && inZone(domain)) {
        new MxRecord(this, `Mx${i}`, {
          zone,
          recordName: domain,
          values: [{ priority: 10, hostName: inboundEndpoint }],
        });
      }
    });

    const actions: IReceiptRuleAction[] = [];
    let gatekeeper: ArchiverFunction | undefined;
    if (config.unknownRecipients.action === 'reject') {
      gatekeeper = new ArchiverFunction(this, 'GatekeeperFunction', {
        entry: 'lambdas/gatekeeper/index.ts',
        description: 'Bounces envelope recipients that belong to no mailbox before anything is stored',
        memorySize: 256,
        timeout: Duration.seconds(10),
        environment: { ARCHIVER_CONFIG: configJson, POWERTOOLS_SERVICE_NAME: 'mail-archiver-gatekeeper' },
      });
      gatekeeper.addToRolePolicy(
        new PolicyStatement({
          actions: ['ses:SendBounce'],
          resources: config.domains.map(
            (d) => `arn:${this.partition}:ses:${this.region}:${this.account}:identity/${d}`,
          ),
        }),
      );
      actions.push(
        new sesActions.Lambda({
          function: gatekeeper,
          invocationType: sesActions.LambdaInvocationType.REQUEST_RESPONSE,
        }),
      );
    }
    actions.push(
      new sesActions.S3({
        bucket: this.rawMailBucket,
        objectKeyPrefix: RAW_MAIL_PREFIX,
        topic: receivedTopic,
      }),
    );

    const ruleSet = new ReceiptRuleSet(this, 'ReceiptRuleSet', {
      receiptRuleSetName: config.ses.ruleSetName,
    });
    ruleSet.addRule('Archive', {
      recipients: domains,
      tlsPolicy: TlsPolicy.REQUIRE,
      scanEnabled: true,
      actions,
    });

    if (config.ses.activateRuleSet) {
      // Explicit in the config (ses.activateRuleSet): this replaces whatever rule set is active in the region.
      const activation = new AwsCustomResource(this, 'ActivateRuleSet', {
        onUpdate: {
          service: 'SES',
          action: 'setActiveReceiptRuleSet',
          parameters: { RuleSetName: ruleSet.receiptRuleSetName },
          physicalResourceId: PhysicalResourceId.of(`active-${config.ses.ruleSetName}`),
        },
        onDelete: { service: 'SES', action: 'setActiveReceiptRuleSet', parameters: {} },
        policy: AwsCustomResourcePolicy.fromStatements([
          new PolicyStatement({ actions: ['ses:SetActiveReceiptRuleSet'], resources: ['*'] }),
        ]),
        installLatestAwsSdk: false,
      });
      activation.node.addDependency(ruleSet);
      Validations.of(activation).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'ses:SetActiveReceiptRuleSet supports no resource-level permissions',
      });
    } else {
      new CfnOutput(this, 'ActivateRuleSetCommand', {
        description: 'The rule set is NOT active (ses.activateRuleSet is false). Activate it yourself:',
        value: `aws ses set-active-receipt-rule-set --rule-set-name ${config.ses.ruleSetName} --region ${this.region}`,
      });
    }

    // --- Alarms. ---------------------------------------------------------------------------------------------
    alarm('IngestDeadLettersAlarm', {
      alarmDescription:
        'A received message could not be indexed after 5 attempts: see the ingest dead-letter queue',
      metric: this.ingestDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
      }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
    });
    for (const [name, fn] of [
      ['Ingest', this.ingestFunction],
      ['Export', this.exportFunction],
      ['Forward', this.forwardFunction],
      ['Gatekeeper', gatekeeper],
    ] as const) {
      if (!fn) continue;
      alarm(`${name}ErrorsAlarm`, {
        alarmDescription: `The ${name.toLowerCase()} function failed`,
        metric: fn.metricErrors({ period: Duration.minutes(5) }),
        threshold: 0,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      });
    }

    // --- Outputs. --------------------------------------------------------------------------------------------
    new CfnOutput(this, 'RawMailBucketName', { value: this.rawMailBucket.bucketName });
    new CfnOutput(this, 'IndexTableName', { value: this.indexTable.tableName });
    new CfnOutput(this, 'IngestQueueUrl', { value: this.ingestQueue.queueUrl });
    new CfnOutput(this, 'IngestDeadLetterQueueUrl', { value: this.ingestDeadLetterQueue.queueUrl });
    new CfnOutput(this, 'ForwardQueueUrl', { value: this.forwardQueue.queueUrl });
    new CfnOutput(this, 'ForwardDeadLetterQueueUrl', { value: this.forwardDeadLetterQueue.queueUrl });
    new CfnOutput(this, 'ExportFunctionName', { value: this.exportFunction.functionName });
    new CfnOutput(this, 'ReceiptRuleSetName', { value: config.ses.ruleSetName });

    this.acknowledgeReviewedFindings(accessLogs);
  }

  /** Read access to raw mail, scoped to the prefix SES writes it under (object keys are SES message ids). */
  private grantRawMailRead(fn: ArchiverFunction, who: string) {
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [this.rawMailBucket.arnForObjects(`${RAW_MAIL_PREFIX}*`)],
      }),
    );
    const bucketId = this.getLogicalId(this.rawMailBucket.node.defaultChild as CfnElement);
    Validations.of(fn.role as Role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${RAW_MAIL_PREFIX}*]`,
      reason: `The ${who} reads raw mail under the incoming/ prefix only; object keys are SES message ids`,
    });
  }

  /** Each acknowledged finding says why it does not apply. */
  private acknowledgeReviewedFindings(accessLogs: Bucket) {
    const bucketId = this.getLogicalId(this.rawMailBucket.node.defaultChild as CfnElement);
    Validations.of(this.exportFunction.role as Role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${EXPORT_PREFIX}*]`,
      reason:
        'The exporter writes bundles under the exports/ prefix only; their keys are generated per export',
    });
    Validations.of(this.exportFunction.role as Role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${this.getLogicalId(this.indexTable.node.defaultChild as CfnElement)}.Arn>/index/*]`,
      reason: "The index table's own global secondary indexes, which the exporter queries",
    });
    const ingestRole = this.ingestFunction.role as Role;
    Validations.of(ingestRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${ENVELOPE_PREFIX}*]`,
      reason:
        'Ingest writes one envelope sidecar per message under envelopes/ (what reindex rebuilds the index from)',
    });
    Validations.of(ingestRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${this.getLogicalId(this.indexTable.node.defaultChild as CfnElement)}.Arn>/index/*]`,
      reason: "The index table's own global secondary indexes, which the ingest path queries",
    });
    const singleton = this.node.tryFindChild(AWS_CUSTOM_RESOURCE_SINGLETON_ID);
    if (singleton) {
      Validations.of(singleton).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason:
          "CDK's own AwsCustomResource function (activates the rule set once per deploy); basic logging only",
      });
      Validations.of(singleton).acknowledge({
        id: 'AwsSolutions-L1',
        reason: "CDK's own AwsCustomResource function: aws-cdk-lib chooses its runtime",
      });
    }
    Validations.of(accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This is the server access log bucket; logging it into itself would loop',
    });
  }
}
