// The transparency log: on a schedule, the seal function appends the delivery log's new records to a Merkle tree
// kept under transparency/ in the raw-mail bucket and signs its head with an Ed25519 KMS key (the private key never
// leaves KMS); each new checkpoint is mailed to the alarm address. Alarms: the function failed; no seal for 26
// hours; a write that would have replaced a file of the log; records that contradict a sealed delivery.
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Key, KeySpec, KeyUsage } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import type { ArchiverConfig } from '../../shared/config';
import { TRANSPARENCY_PREFIX } from '../../shared/index/schema';
import {
  CHECKPOINT_SEALED_METRIC,
  LOG_CONFLICTS_METRIC,
  LOG_OVERWRITE_REFUSED_METRIC,
  METRICS_NAMESPACE,
} from '../../shared/metrics';
import { ArchiverFunction } from './archiver-function';
import type { OperatorAlarms } from './operator-alarms';
import type { RawMailStore } from './raw-mail-store';

/** The seal function's service name (the `service` dimension of its metrics). */
export const SEAL_SERVICE = 'mail-archiver-seal';
/** Hours without a seal after which the operator is alarmed. */
export const NO_SEAL_ALARM_HOURS = 26;

/** Props of {@link TransparencyLog}. */
export interface TransparencyLogProps {
  readonly config: ArchiverConfig;
  /** The raw-mail bucket: the delivery log is read from it, the transparency log kept in it. */
  readonly rawMail: RawMailStore;
  /** Where the alarms notify the operator, and the topic each new checkpoint is mailed through. */
  readonly alarms: OperatorAlarms;
}

/**
 * The transparency log: the signing key (KMS, ECC_NIST_EDWARDS25519, retained), the seal function on a schedule
 * (`transparency.sealEveryHours`, one run at a time), and its alarms. Grants: kms:Sign
 * and kms:GetPublicKey on the key; read delivery-log/*; read, create (never replace) and, when the archive's lock
 * is on, lock transparency/*; publish to the alarm topic.
 */
export class TransparencyLog extends Construct {
  /** Signs checkpoints; its public key (GetPublicKey) is what `verify --key` checks with. */
  readonly signingKey: Key;
  /** The seal function (`seal --target aws` invokes it). */
  readonly function: ArchiverFunction;

  constructor(scope: Construct, id: string, props: TransparencyLogProps) {
    super(scope, id);
    const { config, rawMail, alarms } = props;
    this.signingKey = new Key(this, 'SigningKey', {
      description: `Signs the transparency log checkpoints of ${Stack.of(this).stackName} (Ed25519)`,
      keySpec: KeySpec.ECC_NIST_EDWARDS25519,
      keyUsage: KeyUsage.SIGN_VERIFY,
      // A new key would make every checkpoint signed so far unverifiable with the key users keep.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.function = new ArchiverFunction(this, 'SealFunction', {
      entry: 'lambdas/seal/index.ts',
      description: 'Seals the transparency log: appends new delivery records, signs the checkpoint',
      config,
      memorySize: 1024,
      timeout: Duration.minutes(15),
      retryAttempts: 0,
      // One sealer at a time: two would race for the same tiles (the store would refuse the loser's writes).
      reservedConcurrentExecutions: 1,
      environment: {
        RAW_BUCKET: rawMail.bucket.bucketName,
        SIGNING_KEY_ARN: this.signingKey.keyArn,
        ALARM_TOPIC_ARN: alarms.topic.topicArn,
        POWERTOOLS_SERVICE_NAME: SEAL_SERVICE,
      },
    });
    this.signingKey.grant(this.function, 'kms:Sign', 'kms:GetPublicKey');
    rawMail.grantDeliveryLogRead(this.function, 'seal function');
    rawMail.grantTransparencyLog(this.function, { lock: config.archive.lock.mode !== 'off' });
    rawMail.enforceWriteOnce(TRANSPARENCY_PREFIX);
    alarms.grantPublish(this.function);

    new Rule(this, 'SealSchedule', {
      description: 'Seals the transparency log on a schedule',
      schedule: Schedule.rate(Duration.hours(config.transparency.sealEveryHours)),
      targets: [new LambdaFunction(this.function, { retryAttempts: 0 })],
    });
    // No seal at deployment (a trigger would add a provider function of its own): the first scheduled run comes
    // within `sealEveryHours` (at most 24), before the 26-hour alarm; `seal --target aws` seals at once.

    alarms.alarmWhenAboveZero(
      'SealErrorsAlarm',
      this.function.metricErrors({ period: Duration.hours(1) }),
      'The transparency log seal failed (or sealed without its witness mail or time-stamp): see its log',
    );
    const metric = (metricName: string) =>
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { service: SEAL_SERVICE },
        statistic: 'Sum',
        period: Duration.hours(1),
      });
    alarms.alarm('NoSealAlarm', {
      alarmDescription: `No transparency log checkpoint was sealed for ${NO_SEAL_ALARM_HOURS} hours: see the seal function's log, then \`mail-archiver seal --target aws\``,
      metric: metric(CHECKPOINT_SEALED_METRIC),
      threshold: 1,
      comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: NO_SEAL_ALARM_HOURS,
      datapointsToAlarm: NO_SEAL_ALARM_HOURS,
      treatMissingData: TreatMissingData.BREACHING,
    });
    alarms.alarmWhenAboveZero(
      'LogOverwriteAlarm',
      metric(LOG_OVERWRITE_REFUSED_METRIC),
      'A write that would have replaced a file of the transparency log was refused: someone or something tried to rewrite its history',
    );
    alarms.alarmWhenAboveZero(
      'LogConflictsAlarm',
      metric(LOG_CONFLICTS_METRIC),
      'The delivery log holds records naming other content for deliveries already sealed: see the seal record under transparency/seals/',
    );
  }
}
