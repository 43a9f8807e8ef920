// The `archive` section of the config file (shared/config.ts): what protects the archive itself. Every field's
// documentation is its `.describe()` or `.meta()`, as in the rest of the schema (scripts/config-docs.ts).
import { z } from 'zod';

const awsAccountId = z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id');
const awsRegion = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region like eu-west-1');

/**
 * What protects the archive itself: Object Lock retention on every raw message, envelope sidecar and delivery-log
 * version (docs/object-lock.md), who may bypass governance retention, and an optional replica in a second account.
 */
export const archiveSchema = z
  .object({
    lock: z
      .object({
        mode: z
          .enum(['governance', 'compliance', 'off'])
          .default('governance')
          .describe(
            'governance: nobody can delete or overwrite a locked version, except the break-glass role; compliance: nobody at all, AWS root included, until `retainDays` pass (it cannot be undone, for any reason); off: versions are kept but not locked.',
          ),
        retainDays: z
          .number()
          .int()
          .min(1, 'must be at least 1 day')
          .max(36500, 'S3 keeps a retention period of at most 100 years')
          .optional()
          .meta({
            description:
              'Days each version stays locked from when it is locked (S3 Object Lock retention; extended, never shortened). Required with mode "compliance", whose lock nobody can shorten or remove.',
            'x-default-text': '3650 (ten years) in governance mode; no default in compliance mode',
          }),
      })
      .strict()
      // A compliance lock cannot be undone by anyone (AWS root included), so its length is always the user's choice:
      // https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html#object-lock-retention-modes
      .superRefine((lock, ctx) => {
        if (lock.mode === 'compliance' && lock.retainDays === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['retainDays'],
            message:
              'must be set when mode is "compliance" (nobody can shorten or remove a compliance lock, so choose its days on purpose)',
          });
        }
      })
      .transform((lock) => ({ ...lock, retainDays: lock.retainDays ?? 3650 }))
      .prefault({})
      .describe('`{ "mode", "retainDays" }`: the Object Lock retention every archived version gets.'),
    breakGlassRole: z
      .string()
      .regex(/^arn:aws[\w-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/, 'must be an IAM role ARN')
      .optional()
      .meta({
        description:
          'The one IAM role the bucket policy lets bypass governance retention (`s3:BypassGovernanceRetention`); nobody else can, in governance mode either.',
        'x-default-text': 'none: no principal can bypass governance retention',
      }),
    replica: z
      .object({
        account: awsAccountId.describe(
          'Account B: the second AWS account that keeps the replica (with its own root email and payment method).',
        ),
        region: awsRegion.describe("The replica bucket's region (deploy the replica stack there)."),
        sourceAccount: awsAccountId.describe(
          "Account A: this archive's own AWS account; the replica bucket's policy trusts only its replication role.",
        ),
        storageClass: z
          .enum(['STANDARD', 'STANDARD_IA', 'GLACIER_IR', 'DEEP_ARCHIVE'])
          .default('STANDARD')
          .describe(
            'Storage class of the replicas. STANDARD by default: for mail of a few KB the infrequent-access classes cost more (a 128 KB minimum billable size, dearer PUTs; docs/benchmarks.md).',
          ),
        bucketName: z
          .string()
          .regex(
            /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
            'must be an S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens',
          )
          .optional()
          .meta({
            description: 'Name of the replica bucket in account B.',
            'x-default-text': '`<stackName in lower case>-replica-<account>`',
          }),
      })
      .strict()
      .optional()
      .meta({
        description:
          '`{ "account", "region", "sourceAccount", "storageClass", "bucketName" }`: a replica of raw mail, sidecars and the delivery log in an Object Lock bucket of a second AWS account (docs/object-lock.md, "A copy in a second account").',
        'x-default-text': 'none: the archive lives in one account',
      }),
  })
  .strict()
  .prefault({});
