// Records every command an SDK client sends (a middleware at the initialize step), and, for services that have
// no local counterpart here (SQS, SES, Lambda), answers it with the output the real service would give, so the
// handler goes on. The policy test maps each recorded command to the IAM request AWS authorizes.

export interface RecordedCall {
  service: 'dynamodb' | 's3' | 'sqs' | 'sesv2' | 'ses' | 'lambda' | 'secretsmanager' | 'kms' | 'sns';
  command: string;
  input: Record<string, unknown>;
  /** The error the call ended with (its name), if it failed. */
  error?: string;
  /** What the call answered (its output; a GetObject's without its body), if it succeeded. */
  answer?: Record<string, unknown>;
}

/** A fake service: the output for a command, an error to throw, or undefined to send it for real. */
export type FakeService = (command: string, input: Record<string, unknown>) => object | Error | undefined;

interface HasMiddleware {
  middlewareStack: {
    // biome-ignore lint/suspicious/noExplicitAny: the SDK's middleware types differ per client
    add(middleware: any, options: { step: 'initialize'; name: string }): void;
  };
}

export function recordCalls<T extends HasMiddleware>(
  client: T,
  service: RecordedCall['service'],
  calls: RecordedCall[],
  fake?: FakeService,
): T {
  client.middlewareStack.add(
    (
      next: (args: { input: Record<string, unknown> }) => Promise<unknown>,
      context: { commandName: string },
    ) =>
      async (args: { input: Record<string, unknown> }) => {
        const call: RecordedCall = {
          service,
          command: context.commandName.replace(/Command$/, ''),
          input: args.input,
        };
        calls.push(call);
        try {
          const answer = fake?.(call.command, args.input);
          if (answer instanceof Error) throw answer;
          if (answer) return { output: { $metadata: { httpStatusCode: 200 }, ...answer }, response: {} };
          const result = (await next(args)) as { output?: Record<string, unknown> };
          if (result?.output) {
            const { Body: _body, ...answered } = result.output;
            call.answer = answered;
          }
          return result;
        } catch (error) {
          call.error = (error as Error).name;
          throw error;
        }
      },
    { step: 'initialize', name: 'recordCalls' },
  );
  return client;
}

/** The suffix Secrets Manager appends to a secret's name in its ARN, the same made-up one as the template model's. */
export const SECRET_SUFFIX = 'AbCdEf';

export interface IamRequest {
  action: string;
  resource: string;
  /** The request's condition keys; a multivalued key (ses:Recipients) has a list. */
  context: Record<string, string | string[]>;
  /**
   * Set on a request whose denial does not fail the call: the service answers without what this names. Such a
   * request is needed only by code that uses what it names (policy.test.ts checks that code's grants itself).
   */
  withheld?: string;
}

const DOCUMENT_COMMANDS: Record<string, string> = {
  Get: 'GetItem',
  Put: 'PutItem',
  Update: 'UpdateItem',
  Delete: 'DeleteItem',
  BatchGet: 'BatchGetItem',
  BatchWrite: 'BatchWriteItem',
};

/**
 * The IAM requests AWS authorizes for one SDK command (the service authorization reference's action table and
 * the SES developer guide for the identities a send is checked against).
 * @throws Error for a command not mapped here: a new kind of call must be added deliberately.
 */
export function iamRequestsFor(call: RecordedCall, region: string, account: string): IamRequest[] {
  const { input } = call;
  const at = `${region}:${account}`;
  const context = { 'aws:SecureTransport': 'true' };
  const table = (name: unknown, index?: unknown) =>
    `arn:aws:dynamodb:${at}:table/${String(name)}${index ? `/index/${String(index)}` : ''}`;
  const queue = (url: unknown) => `arn:aws:sqs:${at}:${String(url).split('/').pop()}`;
  const identity = (address: string) => `arn:aws:ses:${at}:identity/${address}`;
  const domainOf = (address: string) => address.slice(address.lastIndexOf('@') + 1);
  switch (call.service) {
    case 'dynamodb': {
      const name = DOCUMENT_COMMANDS[call.command] ?? call.command;
      if (call.command === 'TransactWrite' || call.command === 'TransactWriteItems') {
        return (input.TransactItems as Record<string, { TableName: string }>[]).flatMap((item) =>
          Object.entries(item).map(([kind, op]) => ({
            action: `dynamodb:${kind === 'ConditionCheck' ? 'ConditionCheckItem' : `${kind}Item`}`,
            resource: table(op.TableName),
            context,
          })),
        );
      }
      if (name === 'BatchGetItem' || name === 'BatchWriteItem') {
        return Object.keys(input.RequestItems as object).map((t) => ({
          action: `dynamodb:${name}`,
          resource: table(t),
          context,
        }));
      }
      return [{ action: `dynamodb:${name}`, resource: table(input.TableName, input.IndexName), context }];
    }
    case 's3': {
      const object = `arn:aws:s3:::${String(input.Bucket)}/${String(input.Key)}`;
      const actions: Record<string, string> = {
        GetObject: 's3:GetObject',
        HeadObject: 's3:GetObject',
        PutObject: 's3:PutObject',
        CreateMultipartUpload: 's3:PutObject',
        UploadPart: 's3:PutObject',
        CompleteMultipartUpload: 's3:PutObject',
        AbortMultipartUpload: 's3:AbortMultipartUpload',
        DeleteObject: 's3:DeleteObject',
        // S3 Object Lock (Amazon S3 User Guide, "Object Lock considerations", and the service authorization
        // reference): one action per operation, for any version.
        PutObjectRetention: 's3:PutObjectRetention',
        GetObjectRetention: 's3:GetObjectRetention',
        PutObjectLegalHold: 's3:PutObjectLegalHold',
        GetObjectLegalHold: 's3:GetObjectLegalHold',
      };
      if (call.command === 'ListObjectsV2') {
        return [{ action: 's3:ListBucket', resource: `arn:aws:s3:::${String(input.Bucket)}`, context }];
      }
      if (call.command === 'ListObjectVersions') {
        return [
          { action: 's3:ListBucketVersions', resource: `arn:aws:s3:::${String(input.Bucket)}`, context },
        ];
      }
      // Object tags (S3 API reference, PutObjectTagging and GetObjectTagging; Amazon S3 User Guide, "Tagging and
      // access control policies"): a named version's tags need the Version action as well, and the tags a request
      // sets are its s3:RequestObjectTag/<key> and s3:RequestObjectTagKeys condition keys. PutObject with tags
      // also needs s3:PutObjectTagging.
      const setTags: Record<string, string> | undefined =
        call.command === 'PutObjectTagging'
          ? Object.fromEntries(
              ((input.Tagging as { TagSet?: { Key: string; Value: string }[] })?.TagSet ?? []).map((t) => [
                t.Key,
                t.Value,
              ]),
            )
          : call.command === 'PutObject' && input.Tagging
            ? Object.fromEntries(new URLSearchParams(String(input.Tagging)))
            : undefined;
      const tagContext = setTags
        ? {
            ...context,
            's3:RequestObjectTagKeys': Object.keys(setTags),
            ...Object.fromEntries(Object.entries(setTags).map(([k, v]) => [`s3:RequestObjectTag/${k}`, v])),
          }
        : context;
      if (call.command === 'PutObjectTagging' || call.command === 'GetObjectTagging') {
        const verb = call.command === 'PutObjectTagging' ? 'Put' : 'Get';
        return [
          { action: `s3:${verb}ObjectTagging`, resource: object, context: tagContext },
          ...(input.VersionId !== undefined
            ? [{ action: `s3:${verb}ObjectVersionTagging`, resource: object, context: tagContext }]
            : []),
        ];
      }
      // A read of a named version is s3:GetObjectVersion (a read of the current one, s3:GetObject).
      const versioned =
        input.VersionId !== undefined && (call.command === 'GetObject' || call.command === 'HeadObject');
      const action = versioned ? 's3:GetObjectVersion' : actions[call.command];
      if (!action) throw new Error(`no IAM mapping for S3 ${call.command}`);
      // A conditional write carries its condition as the s3:if-none-match key (the bucket policy requires it
      // under transparency/).
      const conditional = input.IfNoneMatch
        ? { ...context, 's3:if-none-match': String(input.IfNoneMatch) }
        : context;
      // A read of a key that does not exist answers 404 only with s3:ListBucket on the bucket, 403 without it
      // (S3 API reference, GetObject and HeadObject, "Permissions"): code that relies on the 404 needs both.
      const missing = action === 's3:GetObject' && (call.error === 'NoSuchKey' || call.error === 'NotFound');
      // An upload that sets a retention (x-amz-object-lock-mode and -retain-until-date) needs s3:PutObjectRetention
      // as well, with the lock's condition keys (Amazon S3 User Guide, "Object Lock considerations"; MinIO, which
      // follows S3's checks, asks the same of PutObject in checkPutObjectLockAllowed).
      const lockContext = input.ObjectLockMode
        ? {
            ...context,
            's3:object-lock-mode': String(input.ObjectLockMode),
            's3:object-lock-retain-until-date': new Date(
              input.ObjectLockRetainUntilDate as Date,
            ).toISOString(),
          }
        : undefined;
      // S3 sends a read's x-amz-object-lock-mode and -retain-until-date only to a caller with s3:GetObjectRetention
      // (S3 API Reference, GetObject and HeadObject, ObjectLockMode): an answer that carried them asked it, and
      // without it the read still succeeds, without them. Asked of every such answer, not only of the lock step's
      // reads, because that is how S3 decides; whether a function needs it is its code's question.
      const toldRetention =
        (call.command === 'GetObject' || call.command === 'HeadObject') &&
        call.answer?.ObjectLockMode !== undefined;
      return [
        { action, resource: object, context: lockContext ? { ...conditional, ...lockContext } : conditional },
        ...(toldRetention
          ? [
              {
                action: 's3:GetObjectRetention',
                resource: object,
                context,
                withheld: "the version's lock headers",
              },
            ]
          : []),
        ...(call.command === 'PutObject' && setTags
          ? [{ action: 's3:PutObjectTagging', resource: object, context: tagContext }]
          : []),
        ...((call.command === 'PutObject' || call.command === 'CreateMultipartUpload') && lockContext
          ? [{ action: 's3:PutObjectRetention', resource: object, context: lockContext }]
          : []),
        ...(missing
          ? [{ action: 's3:ListBucket', resource: `arn:aws:s3:::${String(input.Bucket)}`, context }]
          : []),
      ];
    }
    case 'sqs':
      if (call.command !== 'SendMessage' && call.command !== 'SendMessageBatch') break;
      return [{ action: 'sqs:SendMessage', resource: queue(input.QueueUrl), context }];
    case 'lambda':
      if (call.command !== 'Invoke') break;
      return [
        {
          action: 'lambda:InvokeFunction',
          resource: `arn:aws:lambda:${at}:function:${String(input.FunctionName)}`,
          context,
        },
      ];
    case 'sesv2': {
      if (call.command !== 'SendEmail') break;
      // SES checks the sending identity, the configuration set, and every recipient that is a verified
      // identity of the account (in the sandbox: all of them).
      const from = String(input.FromEmailAddress);
      const destination = input.Destination as
        | { ToAddresses?: string[]; CcAddresses?: string[]; BccAddresses?: string[] }
        | undefined;
      const recipients = [
        ...(destination?.ToAddresses ?? []),
        ...(destination?.CcAddresses ?? []),
        ...(destination?.BccAddresses ?? []),
      ];
      // ses:Recipients holds every To, Cc and Bcc address (SES developer guide, "Identity and access management
      // in Amazon SES"; a multivalued key).
      const sendContext = { ...context, 'ses:FromAddress': from, 'ses:Recipients': recipients };
      return [
        identity(domainOf(from)),
        ...recipients.map(identity),
        ...(input.ConfigurationSetName
          ? [`arn:aws:ses:${at}:configuration-set/${String(input.ConfigurationSetName)}`]
          : []),
      ].map((resource) => ({ action: 'ses:SendEmail', resource, context: sendContext }));
    }
    case 'secretsmanager':
      // The secret is named by its name; IAM sees its ARN (name plus the six characters Secrets Manager adds).
      if (call.command !== 'GetSecretValue' && call.command !== 'PutSecretValue') break;
      return [
        {
          action: `secretsmanager:${call.command}`,
          resource: `arn:aws:secretsmanager:${at}:secret:${String(input.SecretId)}-${SECRET_SUFFIX}`,
          context,
        },
      ];
    case 'kms':
      // The key is named by its ARN (the composition root passes SIGNING_KEY_ARN).
      if (call.command !== 'Sign' && call.command !== 'GetPublicKey') break;
      return [{ action: `kms:${call.command}`, resource: String(input.KeyId), context }];
    case 'sns':
      if (call.command !== 'Publish') break;
      return [{ action: 'sns:Publish', resource: String(input.TopicArn), context }];
    case 'ses':
      if (call.command === 'SendBounce') {
        return [
          { action: 'ses:SendBounce', resource: identity(domainOf(String(input.BounceSender))), context },
        ];
      }
      if (call.command === 'DescribeActiveReceiptRuleSet' || call.command === 'SetActiveReceiptRuleSet') {
        return [{ action: `ses:${call.command}`, resource: '*', context }];
      }
      break;
  }
  throw new Error(`no IAM mapping for ${call.service} ${call.command}`);
}
