// The naming rules of the AWS resources the config names, each with its source, in one place: the config schema
// applies them when the config is read, so that a name AWS would refuse fails there, with AWS's rule in the
// message, instead of in `cdk synth` or halfway through the first deploy.

/** A naming rule: a predicate and the rule as AWS documents it. */
export interface AwsNameRule {
  readonly test: (name: string) => boolean;
  readonly rule: string;
}

/** The suffix the stack appends to the stack name for the export function's fixed name. */
export const EXPORT_FUNCTION_SUFFIX = '-export';

/**
 * Lambda function names: 1-64 characters, letters, digits, hyphens and underscores
 * (Lambda API reference, CreateFunction, FunctionName).
 */
export const LAMBDA_FUNCTION_NAME_MAX = 64;

/**
 * CloudFormation stack names: a letter first, then letters, digits and hyphens, at most 128 characters
 * (CloudFormation API reference, CreateStack, StackName). The archiver also names its export function
 * `<stackName>-export`, so the stack name may be at most 64 - 7 = 57 characters.
 */
export const stackNameRule: AwsNameRule = {
  test: (name) =>
    /^[A-Za-z][A-Za-z0-9-]*$/.test(name) &&
    name.length <= 128 &&
    name.length + EXPORT_FUNCTION_SUFFIX.length <= LAMBDA_FUNCTION_NAME_MAX,
  rule:
    'CloudFormation stack names start with a letter and contain only letters, digits and hyphens; ' +
    `at most ${LAMBDA_FUNCTION_NAME_MAX - EXPORT_FUNCTION_SUFFIX.length} characters here, because the export ` +
    `function is named "<stackName>${EXPORT_FUNCTION_SUFFIX}" and Lambda function names are at most ` +
    `${LAMBDA_FUNCTION_NAME_MAX} characters`,
};

/**
 * SES receipt rule set and receipt rule names: only ASCII letters, digits, underscores and dashes; start and end
 * with a letter or digit; 64 characters or fewer (SES API reference, CreateReceiptRuleSet, RuleSetName).
 */
export const sesReceiptNameRule: AwsNameRule = {
  test: (name) => /^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62}[A-Za-z0-9])?$/.test(name),
  rule:
    'SES receipt rule set names contain only ASCII letters, digits, underscores (_) and dashes (-), ' +
    'start and end with a letter or digit, and are at most 64 characters',
};

/**
 * Route 53 hosted zone ids: up to 32 upper-case letters and digits, e.g. Z1D633PJN98FT9 (Route 53 API
 * reference, HostedZone.Id, without the `/hostedzone/` prefix).
 */
export const hostedZoneIdRule: AwsNameRule = {
  test: (id) => /^[A-Z0-9]{1,32}$/.test(id),
  rule: 'a Route 53 hosted zone id is up to 32 upper-case letters and digits, like Z1D633PJN98FT9 (no /hostedzone/ prefix)',
};

/**
 * The deployed stack's CloudFormation outputs, by name: cdk/archiver-stack.ts creates each, the CLI reads them
 * (cli/target/aws.ts stackOutputs). An output's name is its logical ID in the template.
 */
export const STACK_OUTPUT = {
  rawMailBucketName: 'RawMailBucketName',
  indexTableName: 'IndexTableName',
  ingestQueueUrl: 'IngestQueueUrl',
  ingestDeadLetterQueueUrl: 'IngestDeadLetterQueueUrl',
  receivedNotificationDeadLetterQueueUrl: 'ReceivedNotificationDeadLetterQueueUrl',
  forwardQueueUrl: 'ForwardQueueUrl',
  forwardFeedbackDeadLetterQueueUrl: 'ForwardFeedbackDeadLetterQueueUrl',
  forwardDeadLetterQueueUrl: 'ForwardDeadLetterQueueUrl',
  exportFunctionName: 'ExportFunctionName',
  receiptRuleSetName: 'ReceiptRuleSetName',
  alarmTopicArn: 'AlarmTopicArn',
  sealFunctionName: 'SealFunctionName',
  transparencySigningKeyArn: 'TransparencySigningKeyArn',
  /** Only with `archive.replica`: the role S3 Batch Operations assumes for `replica backfill`. */
  batchReplicationRoleArn: 'BatchReplicationRoleArn',
} as const;

export type StackOutputName = (typeof STACK_OUTPUT)[keyof typeof STACK_OUTPUT];
