// The one credential a reader outside AWS needs (a replica machine running `mail-archiver sync --target aws`):
// read the delivery log and the raw mail it names, read the transparency log it witnesses, and find the bucket. Nothing in it can write or delete.
// Sources: the Amazon S3 actions, resources and condition keys page of the
// Service Authorization Reference (s3:ListBucket with s3:prefix; s3:GetObjectVersion for a VersionId);
// CloudFormation's DescribeStacks on a stack ARN.
import { RAW_MAIL_PREFIX, TRANSPARENCY_PREFIX } from '../index/schema';
import { DELIVERY_LOG_PREFIX } from './layout';

/** An IAM policy document (what `aws iam create-policy --policy-document` takes). */
export interface PolicyDocumentJson {
  Version: '2012-10-17';
  Statement: {
    Sid: string;
    Effect: 'Allow';
    Action: string[];
    Resource: string | string[];
    Condition?: Record<string, Record<string, string[]>>;
  }[];
}

/**
 * The least-privilege read-only policy of a replica machine. `bucketArn`: the raw-mail bucket
 * (`arn:aws:s3:::name`); `stackArn`: the stack's ARN, or a pattern (`arn:aws:cloudformation:<region>:<account>:
 * stack/<name>/*`) through which `sync` finds the bucket. The listing is limited to the delivery log's and the
 * transparency log's prefixes; objects are read under those and the raw mail's prefix only (also by version, as
 * the delivery log names them on AWS).
 */
export function replicaReadPolicy(names: { bucketArn: string; stackArn: string }): PolicyDocumentJson {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'ListTheDeliveryLog',
        Effect: 'Allow',
        Action: ['s3:ListBucket'],
        Resource: names.bucketArn,
        Condition: { StringLike: { 's3:prefix': [`${DELIVERY_LOG_PREFIX}*`, `${TRANSPARENCY_PREFIX}*`] } },
      },
      {
        Sid: 'ReadTheLogAndTheMailItNames',
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:GetObjectVersion'],
        Resource: [
          `${names.bucketArn}/${DELIVERY_LOG_PREFIX}*`,
          `${names.bucketArn}/${RAW_MAIL_PREFIX}*`,
          `${names.bucketArn}/${TRANSPARENCY_PREFIX}*`,
        ],
      },
      {
        Sid: 'FindTheBucketThroughTheStack',
        Effect: 'Allow',
        Action: ['cloudformation:DescribeStacks'],
        Resource: names.stackArn,
      },
    ],
  };
}
