// The deployable archiver: SES receives -> S3 keeps the raw bytes -> SNS -> SQS (+DLQ) -> ingest Lambda ->
// DynamoDB index, with forwarding, on-demand export and operator alarms. The stack only composes the constructs
// of cdk/constructs/, one per architectural task. Stateful resources are retained when the stack is deleted: they
// hold mail. Logical IDs are aws-cdk-lib's own (construct path and hash); test/infra/logical-ids.test.ts pins those
// of the retained resources, because a changed one makes CloudFormation replace the resource.
import { Aspects, CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { STACK_OUTPUT } from '../shared/aws-names';
import type { ArchiverConfig } from '../shared/config';
import { replicaNames } from '../shared/retention/replica';
import { FunctionTracing } from './constructs/archiver-function';
import { Forwarding } from './constructs/forwarding';
import { ArchiveHealth } from './constructs/health';
import { IndexTable } from './constructs/index-table';
import { IngestPipeline } from './constructs/ingest-pipeline';
import { MailboxExport } from './constructs/mailbox-export';
import { OperatorAlarms } from './constructs/operator-alarms';
import { RawMailStore } from './constructs/raw-mail-store';
import { Receiving } from './constructs/receiving';
import { ArchiveReplication } from './constructs/replication';
import { ScheduledReconcile } from './constructs/scheduled-reconcile';
import { TransparencyLog } from './constructs/transparency-log';

/** Props of {@link ArchiverStack}: the standard stack props and the archiver config. */
export interface ArchiverStackProps extends StackProps {
  /**
   * The validated archiver config (shared/config.ts; cdk/app.ts loads mail-archiver.config.json, or the path in
   * the `config` context): domains, mailboxes, forwarding targets, the alarm email, the Glacier transition in days.
   */
  readonly config: ArchiverConfig;
}

/**
 * The deployable archiver: composes one construct per architectural task (receiving, raw-mail store, index,
 * ingest, forwarding, export, scheduled reconcile, transparency log, the canary, operator alarms) and grants nothing itself: each construct
 * grants its own functions exactly what they use. Stateful resources are retained when the stack is deleted, and
 * their logical IDs (a contract with a deployed stack) are pinned in test/infra/logical-ids.test.ts.
 */
export class ArchiverStack extends Stack {
  /** Operator alarms, their topic and the messaging key. */
  readonly alarms: OperatorAlarms;
  /** The raw-mail bucket (the source of truth) and its access-log bucket. */
  readonly rawMail: RawMailStore;
  /** The DynamoDB index table. */
  readonly index: IndexTable;
  /** SES receiving: identities, receipt rule set, gatekeeper. */
  readonly receiving: Receiving;
  /** Forwarding: queue, forward function, SES configuration set, feedback function. */
  readonly forwarding: Forwarding;
  /** Stored -> indexed: the ingest queue and function. */
  readonly ingest: IngestPipeline;
  /** On-demand mailbox export. */
  readonly export: MailboxExport;
  /** The scheduled reconcile. */
  readonly reconcile: ScheduledReconcile;
  /** The transparency log: its signing key and the scheduled seal. */
  readonly transparency: TransparencyLog;
  /** The canary and the alarms that notice an archive gone quiet. */
  readonly health: ArchiveHealth;

  constructor(scope: Construct, id: string, props: ArchiverStackProps) {
    super(scope, id, props);
    const { config } = props;
    Aspects.of(this).add(new FunctionTracing(config.tracing));

    this.alarms = new OperatorAlarms(this, 'OperatorAlarms', { alarmEmail: config.alarmEmail });
    const { messagingKey } = this.alarms;
    this.rawMail = new RawMailStore(this, 'RawMail', {
      archiveTransitionDays: config.archiveTransitionDays,
      canaryKeepDays: config.health.canary.keepDays,
      ...(config.archive.breakGlassRole ? { breakGlassRoleArn: config.archive.breakGlassRole } : {}),
    });
    this.index = new IndexTable(this, 'Index');
    this.receiving = new Receiving(this, 'Receiving', {
      config,
      rawMail: this.rawMail,
      alarms: this.alarms,
      messagingKey,
    });
    this.forwarding = new Forwarding(this, 'Forwarding', {
      config,
      rawMail: this.rawMail,
      index: this.index,
      alarms: this.alarms,
      messagingKey,
    });
    this.ingest = new IngestPipeline(this, 'Ingest', {
      config,
      receivedTopic: this.receiving.receivedTopic,
      rawMail: this.rawMail,
      index: this.index,
      forwarding: this.forwarding,
      alarms: this.alarms,
    });
    this.export = new MailboxExport(this, 'Export', {
      rawMail: this.rawMail,
      index: this.index,
      alarms: this.alarms,
    });

    const replica = replicaNames(config);
    if (replica && config.archive.replica) {
      const replication = new ArchiveReplication(this, 'Replication', {
        rawMail: this.rawMail,
        replica,
        storageClass: config.archive.replica.storageClass,
        alarms: this.alarms,
      });
      new CfnOutput(this, STACK_OUTPUT.batchReplicationRoleArn, { value: replication.batchRole.roleArn });
    }

    this.reconcile = new ScheduledReconcile(this, 'Reconcile', {
      config,
      rawMail: this.rawMail,
      index: this.index,
      forwarding: this.forwarding,
      alarms: this.alarms,
    });

    this.transparency = new TransparencyLog(this, 'Transparency', {
      config,
      rawMail: this.rawMail,
      alarms: this.alarms,
    });

    this.health = new ArchiveHealth(this, 'Health', {
      config,
      rawMail: this.rawMail,
      index: this.index,
      alarms: this.alarms,
    });

    new CfnOutput(this, STACK_OUTPUT.rawMailBucketName, { value: this.rawMail.bucket.bucketName });
    new CfnOutput(this, STACK_OUTPUT.indexTableName, { value: this.index.table.tableName });
    new CfnOutput(this, STACK_OUTPUT.ingestQueueUrl, { value: this.ingest.queue.queueUrl });
    new CfnOutput(this, STACK_OUTPUT.ingestDeadLetterQueueUrl, {
      value: this.ingest.deadLetterQueue.queueUrl,
    });
    new CfnOutput(this, STACK_OUTPUT.receivedNotificationDeadLetterQueueUrl, {
      value: this.ingest.notificationDeadLetterQueue.queueUrl,
    });
    new CfnOutput(this, STACK_OUTPUT.forwardQueueUrl, { value: this.forwarding.queue.queueUrl });
    new CfnOutput(this, STACK_OUTPUT.forwardFeedbackDeadLetterQueueUrl, {
      value: this.forwarding.feedbackDeadLetterQueue.queueUrl,
    });
    new CfnOutput(this, STACK_OUTPUT.forwardDeadLetterQueueUrl, {
      value: this.forwarding.deadLetterQueue.queueUrl,
    });
    new CfnOutput(this, STACK_OUTPUT.exportFunctionName, { value: this.export.function.functionName });
    new CfnOutput(this, STACK_OUTPUT.receiptRuleSetName, { value: config.ses.ruleSetName });
    new CfnOutput(this, STACK_OUTPUT.alarmTopicArn, { value: this.alarms.topic.topicArn });
    new CfnOutput(this, STACK_OUTPUT.sealFunctionName, { value: this.transparency.function.functionName });
    new CfnOutput(this, STACK_OUTPUT.transparencySigningKeyArn, {
      value: this.transparency.signingKey.keyArn,
    });
  }
}
