// The raw-mail bucket: the source of truth. SES writes every received message under incoming/, ingest writes
// an envelope sidecar under envelopes/, the exporter writes bundles under exports/. Retained with the stack.
// S3 Object Lock is enabled from the first deploy, whatever the config's lock mode: CloudFormation replaces a
// bucket whose ObjectLockEnabled changes (cloudformation-coverage-roadmap#1929, "requiresRecreation: Always"),
// and a retained bucket replaced would quietly send new mail to an empty one. No default retention: SES does not
// support receipt rules that upload to a bucket whose Object Lock has one (Amazon SES Developer Guide, "Deliver
// to S3 bucket action"); each version gets its own retention, by its write or right after it (shared/retention).
// docs/object-lock.md.
import { type CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { AnyPrincipal, Effect, type IGrantable, PolicyStatement, type Role } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  ObjectOwnership,
  StorageClass,
} from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { CANARY_OBJECT_TAG } from '../../shared/health/config';
import {
  CANARY_TAGGED_PREFIXES,
  DELIVERY_LOG_PREFIX,
  ENVELOPE_PREFIX,
  EXPORT_PREFIX,
  LOCKED_PREFIXES,
  RAW_MAIL_PREFIX,
  REPORTS_PREFIX,
  SENT_COLLECTION_STATE_PREFIX,
  TRANSPARENCY_PREFIX,
} from '../../shared/index/schema';

/** Days a bundle stays downloadable under exports/. */
export const EXPORT_RETENTION_DAYS = 7;

/** Props of {@link RawMailStore}. */
export interface RawMailStoreProps {
  /** Age of a raw message, in days, at which it moves to S3 Glacier Instant Retrieval (a lifecycle rule). */
  readonly archiveTransitionDays: number;
  /**
   * Days a canary's versions (tagged CANARY_OBJECT_TAG: its raw message and envelope sidecar, never locked) are
   * kept before a lifecycle rule expires them (health.canary.keepDays); less than `archiveTransitionDays`.
   */
  readonly canaryKeepDays: number;
  /**
   * The one IAM role allowed to bypass governance retention (`s3:BypassGovernanceRetention`).
   * @default - nobody: the bucket policy denies the bypass to every principal
   */
  readonly breakGlassRoleArn?: string;
}

/**
 * The raw-mail bucket, the source of truth (SES writes incoming/, ingest envelopes/, the exporter exports/,
 * reconcile reports/), with its server-access-log bucket; both retained. Grants nothing by itself: the
 * `grant*` methods give each function one prefix and the actions it uses.
 */
export class RawMailStore extends Construct {
  /** The raw-mail bucket. */
  readonly bucket: Bucket;
  /** Server access logs of the raw-mail bucket. */
  readonly accessLogBucket: Bucket;

  constructor(scope: Construct, id: string, props: RawMailStoreProps) {
    super(scope, id);
    this.accessLogBucket = new Bucket(this, 'AccessLogBucket', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_PREFERRED,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ expiration: Duration.days(365) }],
    });
    Validations.of(this.accessLogBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This is the server access log bucket; logging it into itself would loop',
    });
    this.bucket = new Bucket(this, 'RawMailBucket', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectLockEnabled: true,
      removalPolicy: RemovalPolicy.RETAIN,
      serverAccessLogsBucket: this.accessLogBucket,
      serverAccessLogsPrefix: 'raw-mail/',
      lifecycleRules: [
        {
          // Bundles are for download; the raw mail they are built from stays. The bucket is versioned, so
          // expiring a bundle only makes it noncurrent: the noncurrent version is deleted a day later.
          id: 'ExpireExports',
          prefix: EXPORT_PREFIX,
          expiration: Duration.days(EXPORT_RETENTION_DAYS),
          noncurrentVersionExpiration: Duration.days(1),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
        {
          // Then the delete marker left alone is removed (S3 refuses ExpiredObjectDeleteMarker beside Days).
          id: 'RemoveExportDeleteMarkers',
          prefix: EXPORT_PREFIX,
          expiredObjectDeleteMarker: true,
        },
        {
          // Canaries only (shared/health: a message whose every envelope recipient is the canary address): ingest
          // leaves their versions unlocked and tags them. Expiration makes the current version noncurrent (a delete
          // marker), which is deleted a day later. A tag-filtered rule can only expire what Object Lock lets it:
          // a locked or held version is never removed ("Object Lock considerations", lifecycle), so a real message
          // tagged by mistake loses nothing (its delete marker hides it, and reconcile reports it gone).
          id: 'ExpireCanaries',
          tagFilters: { [CANARY_OBJECT_TAG.key]: CANARY_OBJECT_TAG.value },
          expiration: Duration.days(props.canaryKeepDays),
          noncurrentVersionExpiration: Duration.days(1),
        },
        // Then the delete markers left alone (a delete marker has no tags, so these rules filter by prefix; a
        // marker is "expired" only when no version of its key is left, so no kept message is touched).
        ...[RAW_MAIL_PREFIX, ENVELOPE_PREFIX].map((prefix) => ({
          id: `RemoveLoneDeleteMarkers-${prefix.replace(/\/$/, '')}`,
          prefix,
          expiredObjectDeleteMarker: true,
        })),
        {
          // A transition only: no version of raw mail is ever expired. A noncurrent one is what an overwrite or a
          // delete marker left, the version to keep; lifecycle could not remove a locked or held version anyway
          // (Amazon S3 User Guide, "Object Lock considerations": protected versions stay safe from lifecycle).
          prefix: RAW_MAIL_PREFIX,
          transitions: [
            {
              storageClass: StorageClass.GLACIER_INSTANT_RETRIEVAL,
              transitionAfter: Duration.days(props.archiveTransitionDays),
            },
          ],
        },
      ],
    });
    denyGovernanceBypass(this.bucket, props.breakGlassRoleArn);
  }

  /**
   * s3:PutObjectRetention on the locked prefixes of the mail (LOCKED_PREFIXES in shared/index/schema.ts but the
   * transparency log's, which {@link grantTransparencyLog} grants to the one function that writes it): the lock
   * step of a function that writes or reads archived versions. It can place or extend a retention, never shorten
   * one (that needs s3:BypassGovernanceRetention, which the bucket policy denies). S3 checks s3:PutObjectRetention
   * on the object, whichever version the request names (S3 API Reference, PutObjectRetention).
   */
  grantLock(fn: IFunction): void {
    for (const prefix of LOCKED_PREFIXES.filter((p) => p !== TRANSPARENCY_PREFIX)) {
      this.grantOnPrefix(
        fn,
        ['s3:PutObjectRetention'],
        prefix,
        `Locks (S3 Object Lock retention) each version it writes or reads under ${prefix}`,
      );
    }
  }

  /**
   * s3:GetObjectRetention on raw mail (incoming/*), for a function whose lock step locks the raw version it read
   * (ingest): S3 then answers its GetObject with the version's x-amz-object-lock-mode and -retain-until-date
   * (sent only to a caller with that permission: S3 API Reference, GetObject), and it asks for no retention the
   * version has already (shared/retention/lock-policy.ts retentionToPlace). Without it S3 leaves the headers out
   * and the function locks every version it reads, as before. incoming/ only: the lock step reads no other prefix
   * (sidecars and the delivery log are written locked).
   */
  grantLockedRead(fn: IFunction): void {
    this.grantOnPrefix(
      fn,
      ['s3:GetObjectRetention'],
      RAW_MAIL_PREFIX,
      'Is told the retention of the raw version it reads under incoming/, so its lock step never asks S3 to shorten one',
    );
  }

  /**
   * The lock sweep (shared/retention/sweep.ts): the versions of the bucket (s3:ListBucketVersions), each new
   * version's retention (s3:GetObjectRetention) and the lock of one without (s3:PutObjectRetention) under every
   * locked prefix, the transparency log's included.
   */
  grantLockSweep(fn: IFunction): void {
    fn.addToRolePolicy(
      new PolicyStatement({ actions: ['s3:ListBucketVersions'], resources: [this.bucket.bucketArn] }),
    );
    for (const prefix of LOCKED_PREFIXES) {
      this.grantOnPrefix(
        fn,
        ['s3:GetObjectRetention', 's3:PutObjectRetention'],
        prefix,
        `The lock sweep reads the retention of new versions under ${prefix} and locks those without`,
      );
    }
    for (const prefix of CANARY_TAGGED_PREFIXES) {
      this.grantOnPrefix(
        fn,
        ['s3:GetObjectTagging', 's3:GetObjectVersionTagging'],
        prefix,
        `The lock sweep reads the tags of a version without retention under ${prefix}: a canary's stays unlocked`,
      );
    }
  }

  /**
   * Tagging a canary's versions (raw mail and its envelope sidecar), which are then not locked and expire:
   * s3:PutObjectTagging and s3:PutObjectVersionTagging on incoming/* (the version SES wrote, by its id), and
   * s3:PutObjectTagging on envelopes/* (a sidecar is written with its tag: PutObject with tags needs it), only
   * with the canary tag and no other key (the s3:RequestObjectTag/<key> and s3:RequestObjectTagKeys condition
   * keys: Amazon S3 User Guide, "Tagging and access control policies"; API reference, PutObjectTagging).
   */
  grantCanaryTagging(fn: IFunction & IGrantable): void {
    const bucketId = Stack.of(this).getLogicalId(this.bucket.node.defaultChild as CfnElement);
    const grants: [string, string[]][] = [
      [RAW_MAIL_PREFIX, ['s3:PutObjectTagging', 's3:PutObjectVersionTagging']],
      [ENVELOPE_PREFIX, ['s3:PutObjectTagging']],
    ];
    for (const [prefix, actions] of grants) {
      fn.addToRolePolicy(
        new PolicyStatement({
          actions,
          resources: [this.bucket.arnForObjects(`${prefix}*`)],
          conditions: {
            StringEquals: { [`s3:RequestObjectTag/${CANARY_OBJECT_TAG.key}`]: CANARY_OBJECT_TAG.value },
            'ForAllValues:StringEquals': { 's3:RequestObjectTagKeys': [CANARY_OBJECT_TAG.key] },
          },
        }),
      );
      Validations.of(fn.role as Role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${prefix}*]`,
        reason: `Tags a canary's version under ${prefix} with the canary tag only (a condition), so the lifecycle rule expires it`,
      });
    }
  }

  /** s3:GetObject on raw mail (incoming/*); object keys are SES message ids. */
  grantRawMailRead(fn: IFunction, who: string): void {
    this.grantOnPrefix(
      fn,
      ['s3:GetObject'],
      RAW_MAIL_PREFIX,
      `The ${who} reads raw mail under the incoming/ prefix only; object keys are SES message ids`,
    );
  }

  /**
   * s3:GetObject and s3:PutObject on the envelope sidecars (envelopes/*), one per message, which reindex rebuilds
   * from: ingest reads a sidecar before adding to it. Also s3:ListBucket on the bucket, without which S3 answers
   * a read of a sidecar that does not exist yet with 403 instead of 404
   * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html).
   */
  grantEnvelopeReadWrite(fn: IFunction): void {
    this.grantOnPrefix(
      fn,
      ['s3:GetObject', 's3:PutObject'],
      ENVELOPE_PREFIX,
      'Ingest reads and extends one envelope sidecar per message under envelopes/ (what reindex rebuilds the index from)',
    );
    this.grantList(fn);
  }

  /**
   * s3:GetObject and s3:PutObject on the transparency log (transparency/*), and s3:ListBucket (its checkpoints
   * and seal records are found by listing). The bucket policy lets a put there only create (see
   * {@link enforceWriteOnce}). With `lock`, also s3:PutObjectRetention there: each file is locked like the raw
   * mail, on the version its put created.
   */
  grantTransparencyLog(fn: IFunction, options: { lock: boolean }): void {
    this.grantOnPrefix(
      fn,
      options.lock
        ? ['s3:GetObject', 's3:PutObject', 's3:PutObjectRetention']
        : ['s3:GetObject', 's3:PutObject'],
      TRANSPARENCY_PREFIX,
      options.lock
        ? 'The seal function reads, creates and locks (S3 Object Lock retention) the files of the transparency log under transparency/ (the bucket policy refuses any put that could replace one)'
        : 'The seal function reads and creates the files of the transparency log under transparency/ (the bucket policy refuses any put that could replace one)',
    );
    this.grantList(fn);
  }

  /** s3:GetObject on the transparency log and s3:ListBucket: the exporter adds its proofs to every bundle. */
  grantTransparencyLogRead(fn: IFunction, who: string): void {
    this.grantOnPrefix(
      fn,
      ['s3:GetObject'],
      TRANSPARENCY_PREFIX,
      `The ${who} reads the transparency log under transparency/ (its checkpoints are found by listing)`,
    );
    this.grantList(fn);
  }

  /**
   * Makes the objects under `prefix` write-once for every principal, whatever its IAM policy: a PutObject
   * without If-None-Match is denied (S3 conditional writes, enforced by bucket policy:
   * https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes-enforce.html), and so is every
   * delete (which would let a later put create the key again). Object Lock, where the bucket has it, protects
   * the versions themselves.
   */
  enforceWriteOnce(prefix: string): void {
    const objects = this.bucket.arnForObjects(`${prefix}*`);
    this.bucket.addToResourcePolicy(
      new PolicyStatement({
        sid: 'TransparencyLogCreateOnly',
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [objects],
        conditions: { Null: { 's3:if-none-match': 'true' } },
      }),
    );
    this.bucket.addToResourcePolicy(
      new PolicyStatement({
        sid: 'TransparencyLogNeverDeleted',
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: ['s3:DeleteObject', 's3:DeleteObjectVersion'],
        resources: [objects],
      }),
    );
  }

  /**
   * s3:PutObject on the delivery log (delivery-log/*): every function that files a message into a mailbox folder
   * appends one object per invocation. Keys are new each time (time + a unique part), so a put never replaces a
   * log object; nothing here may delete one. With `read`, also s3:GetObject: reconcile reads the whole log to find
   * the index rows it does not record.
   */
  grantDeliveryLogAppend(fn: IFunction, options: { read?: boolean } = {}): void {
    this.grantOnPrefix(
      fn,
      options.read ? ['s3:GetObject', 's3:PutObject'] : ['s3:PutObject'],
      DELIVERY_LOG_PREFIX,
      options.read
        ? 'Reconcile reads the delivery log under delivery-log/ and appends the rows it lacks (keys are time-ordered and unique)'
        : 'Appends one delivery log object per invocation under delivery-log/ (keys are time-ordered and unique)',
    );
  }

  /**
   * s3:GetObject on the delivery log (delivery-log/*) and s3:ListBucket: a reader that walks it from a cursor
   * (the transparency log's sealer).
   */
  grantDeliveryLogRead(fn: IFunction, who: string): void {
    this.grantOnPrefix(
      fn,
      ['s3:GetObject'],
      DELIVERY_LOG_PREFIX,
      `The ${who} reads the delivery log under delivery-log/ (it lists the keys after its cursor)`,
    );
    this.grantList(fn);
  }

  /** s3:GetObject and s3:PutObject on reports/* (the scheduled reconcile's outcome, the canary record). */
  grantReportsReadWrite(fn: IFunction, who = 'scheduled reconcile'): void {
    this.grantOnPrefix(
      fn,
      ['s3:GetObject', 's3:PutObject'],
      REPORTS_PREFIX,
      `The ${who} reads and writes its outcome under reports/ only`,
    );
  }

  /** s3:ListBucket on the bucket (key names only): 404 rather than 403 for a missing key, and listings. */
  grantList(fn: IFunction): void {
    fn.addToRolePolicy(
      new PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.bucket.bucketArn] }),
    );
  }

  /** s3:PutObject and s3:AbortMultipartUpload on bundles (exports/*), whose keys are generated per export. */
  grantExportWrite(fn: IFunction): void {
    this.grantOnPrefix(
      fn,
      ['s3:PutObject', 's3:AbortMultipartUpload'],
      EXPORT_PREFIX,
      'The exporter writes bundles under the exports/ prefix only; their keys are generated per export',
    );
  }

  /**
   * What the Sent collection needs: collected messages written under incoming/ (content-derived keys), their
   * envelope sidecars, its state objects, and s3:ListBucket so that a missing object answers 404, not 403.
   */
  grantSentCollection(fn: IFunction & IGrantable): void {
    this.grantOnPrefix(
      fn,
      ['s3:GetObject', 's3:PutObject'],
      RAW_MAIL_PREFIX,
      'The Sent collection stores collected messages under incoming/ (keys derived from their content) and reads them back to index them',
    );
    this.grantEnvelopeReadWrite(fn);
    this.grantOnPrefix(
      fn,
      ['s3:GetObject', 's3:PutObject'],
      SENT_COLLECTION_STATE_PREFIX,
      'The Sent collection keeps one small state object per Gmail target under state/gmail-sent/',
    );
  }

  private grantOnPrefix(fn: IFunction & IGrantable, actions: string[], prefix: string, reason: string) {
    fn.addToRolePolicy(
      new PolicyStatement({ actions, resources: [this.bucket.arnForObjects(`${prefix}*`)] }),
    );
    const bucketId = Stack.of(this).getLogicalId(this.bucket.node.defaultChild as CfnElement);
    Validations.of(fn.role as Role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${prefix}*]`,
      reason,
    });
  }
}

/**
 * Governance retention is bypassed by whoever holds s3:BypassGovernanceRetention and asks for it
 * (object-lock-overview, "Governance mode"): a bucket policy statement (sid DenyGovernanceBypass) denies it to every
 * principal but `exceptRoleArn` (the break-glass role, when there is one), so that no identity policy (an
 * administrator's included) can grant it. Used by the archive bucket and the replica bucket.
 */
export function denyGovernanceBypass(bucket: Bucket, exceptRoleArn?: string): void {
  bucket.addToResourcePolicy(
    new PolicyStatement({
      sid: 'DenyGovernanceBypass',
      effect: Effect.DENY,
      principals: [new AnyPrincipal()],
      actions: ['s3:BypassGovernanceRetention'],
      resources: [bucket.arnForObjects('*')],
      ...(exceptRoleArn ? { conditions: { ArnNotEquals: { 'aws:PrincipalArn': exceptRoleArn } } } : {}),
    }),
  );
}
