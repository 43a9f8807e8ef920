// IAM policy evaluation over the synthesized template (@cloud-copilot/iam-simulate, a maintained evaluator of
// AWS's policy logic): every service-to-resource path the design relies on is Allowed and an unrelated source is
// Denied; and every SDK command each Lambda's code sends, recorded from the handlers' own runs against DynamoDB
// Local and s3rver (SQS, SES and Lambda answered by a recorder), is Allowed by that function's role, while no
// role holds a grant its function never used.

import { generateKeyPairSync, sign } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SESClient } from '@aws-sdk/client-ses';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { type RunSimulationResults, runSimulation } from '@cloud-copilot/iam-simulate';
import type { CloudFormationCustomResourceEvent, Context, SESEvent, SNSEvent, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureIndexTable } from '../../cli/local/index-table';
import {
  type DynamoLocal,
  ensureBucket,
  type S3Local,
  startDynamoLocal,
  startS3Local,
} from '../../cli/local/services';
import { createCanaryHandler } from '../../lambdas/canary/handler';
import { createExportHandler } from '../../lambdas/export/handler';
import { createFeedbackHandler } from '../../lambdas/feedback/handler';
import { createForwardHandler } from '../../lambdas/forward/handler';
import { createGatekeeperHandler } from '../../lambdas/gatekeeper/handler';
import { createGmailSentHandler } from '../../lambdas/gmail-sent/handler';
import { createIngestHandler } from '../../lambdas/ingest/handler';
import { createReconcileHandler } from '../../lambdas/reconcile/handler';
import { createActivationHandler } from '../../lambdas/rule-set-activation/handler';
import { createSealHandler } from '../../lambdas/seal/handler';
import { createClients, destroyClients } from '../../shared/adapters/clients';
import { DynamoForwardLedger } from '../../shared/adapters/dynamo-forward-ledger';
import { DynamoMailIndex } from '../../shared/adapters/dynamo-index';
import { IndexTable } from '../../shared/adapters/dynamo-table';
import { GmailApi } from '../../shared/adapters/gmail-api';
import { SecretsManagerGmailCredentialStore } from '../../shared/adapters/gmail-credentials';
import { KmsNoteSigner } from '../../shared/adapters/kms-note-signer';
import { asyncInvoker } from '../../shared/adapters/lambda-invoker';
import { RawStoreSentCollectionState } from '../../shared/adapters/raw-store-sent-state';
import { S3ObjectLocks } from '../../shared/adapters/s3-object-locks';
import { S3RawMailStore } from '../../shared/adapters/s3-raw-store';
import { S3WriteOnceStore } from '../../shared/adapters/s3-write-once-store';
import { SesBouncer } from '../../shared/adapters/ses-bouncer';
import { SesActiveRuleSet } from '../../shared/adapters/ses-rule-sets';
import { SesSender } from '../../shared/adapters/ses-sender';
import { SnsCheckpointWitness } from '../../shared/adapters/sns-witness';
import { SqsForwardQueue } from '../../shared/adapters/sqs-forward-queue';
import { DeliveryLog } from '../../shared/delivery-log/log';
import { GMAIL_INSERT_SCOPE, GMAIL_READONLY_SCOPE } from '../../shared/forwarding/gmail';
import { storedCanaryFinder } from '../../shared/health/canary-trail';
import { itemKeys, RAW_MAIL_PREFIX } from '../../shared/index/schema';
import type { ObjectLocks, ObjectVersion, Retention } from '../../shared/ports';
import { archiveLocker } from '../../shared/retention/lock-policy';
import { lockingStore } from '../../shared/retention/locking-store';
import { deliveryLogSource, leafIdentity } from '../../shared/transparency/leaf';
import { TRANSPARENCY_PREFIX } from '../../shared/transparency/log-files';
import { logOrigin } from '../../shared/transparency/origin';
import { logBundleProofs } from '../../shared/transparency/prove';
import { exampleConfig } from '../support/config';
import { GoogleStandIn } from '../support/google-standin';
import { makeMessage } from '../support/messages';
import { receiveLikeSes } from '../support/ses';
import { type IamRequest, iamRequestsFor, type RecordedCall, recordCalls } from './recording';
import { synthesize } from './synth';
import { ACCOUNT, type CfnResource, type PolicyDocument, REGION, TemplateModel } from './template-model';

const STACK = 'TestArchiver';
/** A Gmail API target that also collects sent mail: every function and grant the stack can have exists. */
const GMAIL_TARGET = 'alice.box@gmail.com';
const config = exampleConfig({
  mailboxes: {
    'alice@example.com': {
      forwardTo: ['alice.example@gmail.com', { address: GMAIL_TARGET, via: 'gmail-api', collectSent: true }],
    },
    'bob@example.com': { forwardTo: [] },
  },
});
const model = (() => {
  const { template } = synthesize(config, { stackName: STACK });
  return new TemplateModel(
    STACK,
    (template.toJSON() as { Resources: Record<string, CfnResource> }).Resources,
  );
})();
/**
 * The stack's own functions: aws-cdk-lib's Trigger provider (it invokes the seal function once per deployment)
 * runs aws-cdk-lib's code, not ours, and holds only lambda:InvokeFunction on the seal function.
 */
const ourFunctions = model
  .ofType('AWS::Lambda::Function')
  .map(([id]) => id)
  .filter((id) => !id.startsWith('AWSCDKTriggerCustomResourceProvider'));
const ruleArn = `arn:aws:ses:${REGION}:${ACCOUNT}:receipt-rule-set/mail-archiver:receipt-rule/archive`;
const otherRuleArn = `arn:aws:ses:${REGION}:${ACCOUNT}:receipt-rule-set/somebody-elses:receipt-rule/archive`;

async function simulate(
  principal: string,
  action: string,
  resource: string,
  options: {
    identityPolicies?: { name: string; policy: PolicyDocument }[];
    resourcePolicy?: PolicyDocument;
    context?: Record<string, string | string[]>;
  },
): Promise<RunSimulationResults> {
  return runSimulation(
    {
      request: {
        principal,
        action,
        resource: { resource, accountId: ACCOUNT },
        contextVariables: { 'aws:SecureTransport': 'true', ...options.context },
      },
      identityPolicies: options.identityPolicies ?? [],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy: options.resourcePolicy,
    },
    {},
  );
}
const verdict = (r: RunSimulationResults) =>
  r.resultType === 'error' ? `error: ${r.errors.message}` : r.overallResult;

// ---------------------------------------------------------------------------------------------------------------
describe('service-to-resource paths (the resource policies of the template)', () => {
  const [bucketId] = model.find('AWS::S3::Bucket', 'RawMailBucket');
  const [receivedTopicId] = model.find('AWS::SNS::Topic', 'ReceivedTopic');
  const [alarmTopicId] = model.find('AWS::SNS::Topic', 'AlarmTopic');
  const [feedbackTopicId] = model.find('AWS::SNS::Topic', 'ForwardFeedbackTopic');
  const [keyId] = model.find('AWS::KMS::Key', 'MessagingKey');
  const [ingestQueueId] = model.find('AWS::SQS::Queue', 'IngestQueue');
  const [gatekeeperId] = model.find('AWS::Lambda::Function', 'GatekeeperFunction');
  const [feedbackFunctionId] = model.find('AWS::Lambda::Function', 'ForwardFeedbackFunction');
  const [configurationSetId] = model.find('AWS::SES::ConfigurationSet', 'ForwardingConfigurationSet');
  const arn = (id: string) => model.getAtt(id, 'Arn');
  const topicArn = (id: string) => model.ref(id);
  const configurationSetArn = `arn:aws:ses:${REGION}:${ACCOUNT}:configuration-set/${model.ref(configurationSetId)}`;
  const alarmArn = (name: string) => `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:${name}`;
  const [, anAlarm] = model.find('AWS::CloudWatch::Alarm', 'IngestDeadLettersAlarm');
  const ourAlarm = alarmArn(anAlarm.Properties?.AlarmName as string);
  const source = (sourceArn: string) => ({ 'aws:SourceArn': sourceArn, 'aws:SourceAccount': ACCOUNT });

  type Path = [
    what: string,
    principal: string,
    action: string,
    resource: string,
    policyOf: string,
    allowed: string,
    denied: string,
  ];
  const paths: Path[] = [
    [
      'SES stores raw mail',
      'ses.amazonaws.com',
      's3:PutObject',
      `${arn(bucketId)}/incoming/0123abcd`,
      bucketId,
      ruleArn,
      otherRuleArn,
    ],
    [
      'SES notifies the received topic',
      'ses.amazonaws.com',
      'sns:Publish',
      topicArn(receivedTopicId),
      receivedTopicId,
      ruleArn,
      otherRuleArn,
    ],
    [
      'SES encrypts the received notification',
      'ses.amazonaws.com',
      'kms:GenerateDataKey',
      arn(keyId),
      keyId,
      ruleArn,
      otherRuleArn,
    ],
    [
      'SES invokes the gatekeeper',
      'ses.amazonaws.com',
      'lambda:InvokeFunction',
      arn(gatekeeperId),
      gatekeeperId,
      ruleArn,
      otherRuleArn,
    ],
    [
      'CloudWatch notifies the operator',
      'cloudwatch.amazonaws.com',
      'sns:Publish',
      topicArn(alarmTopicId),
      alarmTopicId,
      ourAlarm,
      alarmArn('SomeoneElse-Alarm'),
    ],
    [
      'CloudWatch encrypts the alarm notification',
      'cloudwatch.amazonaws.com',
      'kms:GenerateDataKey',
      arn(keyId),
      keyId,
      ourAlarm,
      alarmArn('SomeoneElse-Alarm'),
    ],
    [
      'CloudWatch decrypts for delivery',
      'cloudwatch.amazonaws.com',
      'kms:Decrypt',
      arn(keyId),
      keyId,
      ourAlarm,
      alarmArn('SomeoneElse-Alarm'),
    ],
    [
      'SES publishes sending feedback',
      'ses.amazonaws.com',
      'sns:Publish',
      topicArn(feedbackTopicId),
      feedbackTopicId,
      configurationSetArn,
      `arn:aws:ses:${REGION}:${ACCOUNT}:configuration-set/other`,
    ],
    [
      'SES encrypts sending feedback',
      'ses.amazonaws.com',
      'kms:GenerateDataKey',
      arn(keyId),
      keyId,
      configurationSetArn,
      `arn:aws:ses:${REGION}:${ACCOUNT}:configuration-set/other`,
    ],
    [
      'SNS delivers to the ingest queue',
      'sns.amazonaws.com',
      'sqs:SendMessage',
      arn(ingestQueueId),
      ingestQueueId,
      topicArn(receivedTopicId),
      topicArn(alarmTopicId),
    ],
    [
      'SNS invokes the feedback function',
      'sns.amazonaws.com',
      'lambda:InvokeFunction',
      arn(feedbackFunctionId),
      feedbackFunctionId,
      topicArn(feedbackTopicId),
      topicArn(receivedTopicId),
    ],
  ];

  it.each(paths)(
    '%s: Allowed from its source, Denied from another',
    async (_what, principal, action, resource, policyOf, allowed, denied) => {
      const resourcePolicy = model.resourcePolicy(policyOf);
      expect(resourcePolicy).toBeDefined();
      expect(
        verdict(await simulate(principal, action, resource, { resourcePolicy, context: source(allowed) })),
      ).toBe('Allowed');
      expect(
        verdict(await simulate(principal, action, resource, { resourcePolicy, context: source(denied) })),
      ).not.toBe('Allowed');
    },
  );

  it('an unrelated service or account gets none of it', async () => {
    const resourcePolicy = model.resourcePolicy(bucketId);
    for (const [principal, context] of [
      ['sns.amazonaws.com', source(ruleArn)],
      [
        'ses.amazonaws.com',
        { 'aws:SourceArn': ruleArn.replace(ACCOUNT, '222222222222'), 'aws:SourceAccount': '222222222222' },
      ],
      ['arn:aws:iam::222222222222:root', {}],
    ] as const) {
      const result = await simulate(principal, 's3:PutObject', `${arn(bucketId)}/incoming/x`, {
        resourcePolicy,
        context,
      });
      expect(verdict(result), principal).not.toBe('Allowed');
    }
    // SES may write incoming/ only, not the envelopes or exports.
    const envelopes = await simulate('ses.amazonaws.com', 's3:PutObject', `${arn(bucketId)}/envelopes/x`, {
      resourcePolicy,
      context: source(ruleArn),
    });
    expect(verdict(envelopes)).not.toBe('Allowed');
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('the canary function sends only from and to the canary address', () => {
  const canaryId = model.find('AWS::Lambda::Function', 'HealthCanaryFunction')[0];
  const role = model.roleOf(canaryId);
  const identity = (name: string) => `arn:aws:ses:${REGION}:${ACCOUNT}:identity/${name}`;
  const send = async (resource: string, from: string, recipients?: string[]) =>
    verdict(
      await simulate(model.getAtt(role, 'Arn'), 'ses:SendEmail', resource, {
        identityPolicies: model.rolePolicies(role),
        context: { 'ses:FromAddress': from, ...(recipients ? { 'ses:Recipients': recipients } : {}) },
      }),
    );
  const canary = 'canary@example.com';

  it('from the canary address to the canary address: Allowed, on the domain identity and an address identity', async () => {
    expect(await send(identity('example.com'), canary, [canary])).toBe('Allowed');
    expect(await send(identity(canary), canary, [canary])).toBe('Allowed');
  });

  it.each([
    ['another From address', identity('example.com'), 'alice@example.com', [canary]],
    ['another recipient', identity('example.com'), canary, ['someone@gmail.com']],
    ['another recipient beside the canary', identity('example.com'), canary, [canary, 'someone@gmail.com']],
    ['no recipient key at all', identity('example.com'), canary, undefined],
    ['another identity', identity('other.example'), canary, [canary]],
    ['the From address in other case', identity('example.com'), 'Canary@example.com', [canary]],
  ])('%s: Denied', async (_what, resource, from, recipients) => {
    expect(await send(resource, from, recipients)).not.toBe('Allowed');
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('ingest tags only canaries, only with the canary tag, only where canaries are', () => {
  const ingestId = model.find('AWS::Lambda::Function', 'IngestFunction')[0];
  const role = model.roleOf(ingestId);
  const [bucketId] = model.find('AWS::S3::Bucket', 'RawMailBucket');
  const object = (key: string) => `${model.getAtt(bucketId, 'Arn')}/${key}`;
  const tagging = async (action: string, key: string, tags: Record<string, string>) =>
    verdict(
      await simulate(model.getAtt(role, 'Arn'), action, object(key), {
        identityPolicies: model.rolePolicies(role),
        context: {
          's3:RequestObjectTagKeys': Object.keys(tags),
          ...Object.fromEntries(Object.entries(tags).map(([k, v]) => [`s3:RequestObjectTag/${k}`, v])),
        },
      }),
    );
  const canary = { 'mail-archiver:canary': '1' };

  it('the canary tag on a raw version and a sidecar: Allowed', async () => {
    expect(await tagging('s3:PutObjectTagging', 'incoming/abc', canary)).toBe('Allowed');
    expect(await tagging('s3:PutObjectVersionTagging', 'incoming/abc', canary)).toBe('Allowed');
    expect(await tagging('s3:PutObjectTagging', 'envelopes/abc.json', canary)).toBe('Allowed');
  });

  it.each([
    ['outside incoming/ and envelopes/ (the delivery log)', 's3:PutObjectTagging', 'delivery-log/x', canary],
    ['outside incoming/ and envelopes/ (reports/)', 's3:PutObjectTagging', 'reports/canary.json', canary],
    ['a version of a sidecar', 's3:PutObjectVersionTagging', 'envelopes/abc.json', canary],
    ['another value', 's3:PutObjectTagging', 'incoming/abc', { 'mail-archiver:canary': '0' }],
    ['another key', 's3:PutObjectTagging', 'incoming/abc', { owner: 'x' }],
    ['another key beside the canary tag', 's3:PutObjectTagging', 'incoming/abc', { ...canary, owner: 'x' }],
    ['no tag at all (removing tags)', 's3:PutObjectTagging', 'incoming/abc', {}],
  ])('%s: Denied', async (_what, action, key, tags) => {
    expect(await tagging(action, key, tags)).not.toBe('Allowed');
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe("every SDK command each function's own run sends is allowed by its role, and nothing more is granted", () => {
  const functionIds = ourFunctions;
  const calls = new Map<string, RecordedCall[]>(functionIds.map((id) => [id, []]));
  let dynamo: DynamoLocal;
  let s3: S3Local;
  let dir: string;
  let setup: ReturnType<typeof createClients>;
  const google = new GoogleStandIn();
  /** Secrets Manager as the Gmail credential store reads it: the secret holds the target's credential. */
  const secretsFor = (recorded: RecordedCall[]) =>
    recordCalls(
      new SecretsManagerClient({ region: REGION }),
      'secretsmanager',
      recorded,
      (command, input) => {
        if (command !== 'GetSecretValue') return undefined;
        return {
          Name: input.SecretId,
          SecretString: JSON.stringify({
            type: 'authorized_user',
            client_id: 'archiver-client',
            client_secret: 'client-secret',
            refresh_token: google.issueRefreshToken('archiver-client', GMAIL_TARGET, [
              GMAIL_INSERT_SCOPE,
              GMAIL_READONLY_SCOPE,
            ]),
            token_uri: google.tokenUri,
          }),
        };
      },
    );
  const opened: ReturnType<typeof createClients>[] = [];
  /** The raw object of the message ingest's run reads already locked. */
  let lockedRawKey = '';

  const functionId = (name: string) => model.find('AWS::Lambda::Function', name)[0];
  /** The function's environment, as Lambda would set it (references resolved), plus its own name. */
  const environment = (id: string): Record<string, string> => ({
    ...model.resolve<Record<string, string>>(
      (model.resources[id]?.Properties?.Environment as { Variables?: object } | undefined)?.Variables ?? {},
    ),
    AWS_LAMBDA_FUNCTION_NAME: model.ref(id),
  });
  /** The clients a function's composition root builds, recording what they send. */
  const clientsOf = (id: string) => {
    const recorded = calls.get(id) as RecordedCall[];
    const clients = createClients({ s3: s3.endpoint, dynamodb: dynamo.endpoint });
    opened.push(clients);
    recordCalls(clients.s3, 's3', recorded);
    recordCalls(clients.dynamodb, 'dynamodb', recorded);
    return { ...clients, recorded };
  };
  const logger = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} } as never;
  const context = {} as Context;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'archiver-policy-'));
    await google.start();
    google.addUser(GMAIL_TARGET);
    google.addOAuthClient('archiver-client', 'client-secret');
    [dynamo, s3] = await Promise.all([startDynamoLocal(), startS3Local({ dataDir: join(dir, 's3') })]);
    setup = createClients({ s3: s3.endpoint, dynamodb: dynamo.endpoint });
    const ingest = environment(functionId('IngestFunction'));
    await ensureBucket(setup.s3, ingest.RAW_BUCKET as string);
    await ensureIndexTable(setup.dynamodb, ingest.INDEX_TABLE as string);
    // The table as CloudFormation makes it: without the mailbox registry's marker that ensureIndexTable writes into
    // a local table it creates, so the first mailboxes() call (the reconcile function's) scans once, as on AWS.
    const marker = itemKeys.mailboxesComplete();
    await setup.dynamodb.send(
      new DeleteItemCommand({
        TableName: ingest.INDEX_TABLE as string,
        Key: { pk: { S: marker.pk }, sk: { S: marker.sk } },
      }),
    );
    await runEveryFunction();
  }, 240_000);
  afterAll(async () => {
    for (const c of [setup, ...opened]) if (c) destroyClients(c);
    await Promise.all([dynamo?.stop(), s3?.stop(), google.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  async function runEveryFunction() {
    const bucket = environment(functionId('IngestFunction')).RAW_BUCKET as string;
    // Ingest: two messages for alice (whose copies are forwarded), as SES stored and announced them.
    const ingestId = functionId('IngestFunction');
    const ingestEnv = environment(ingestId);
    const ingestClients = clientsOf(ingestId);
    const ingestSqs = recordCalls(
      new SQSClient({ region: REGION }),
      'sqs',
      ingestClients.recorded,
      (command, input) =>
        command === 'SendMessageBatch'
          ? {
              Successful: (input.Entries as { Id: string }[]).map((e) => ({
                Id: e.Id,
                MessageId: 'm',
                MD5OfMessageBody: 'x',
              })),
              Failed: [],
            }
          : { MessageId: 'm' },
    );
    const ingestLocker = archiveLocker(config, new S3ObjectLocks(ingestClients.s3));
    const ingestStore = lockingStore(new S3RawMailStore(ingestClients.s3), ingestLocker);
    const ingest = createIngestHandler({
      config,
      store: ingestStore,
      ...(ingestLocker ? { locker: ingestLocker } : {}),
      deliveryLog: new DeliveryLog(ingestStore, ingestEnv.RAW_BUCKET as string),
      index: new DynamoMailIndex(ingestClients.dynamodb, ingestEnv.INDEX_TABLE as string),
      forwards: new SqsForwardQueue(ingestEnv.FORWARD_QUEUE_URL as string, ingestSqs),
      logger,
    });
    const store = new S3RawMailStore(setup.s3);
    const records: SQSEvent['Records'] = [];
    for (const subject of ['first', 'second']) {
      const { notification } = await receiveLikeSes(store, bucket, makeMessage({ subject }), {
        recipients: ['alice@example.com'],
      });
      records.push({ messageId: subject, body: JSON.stringify(notification) } as SQSEvent['Records'][number]);
    }
    // A canary (only to the canary address): tagged, not locked, so that it expires.
    const { notification: canaryMail } = await receiveLikeSes(
      store,
      bucket,
      makeMessage({ subject: 'canary' }),
      {
        recipients: ['canary@example.com'],
      },
    );
    records.push({ messageId: 'canary', body: JSON.stringify(canaryMail) } as SQSEvent['Records'][number]);
    // A redelivery of a message whose raw version is locked already (an earlier run locked it): the read is told
    // its retention, and ingest asks for no other. To bob, who forwards nothing.
    const { notification: lockedMail } = await receiveLikeSes(
      store,
      bucket,
      makeMessage({ subject: 'again', to: 'bob@example.com' }),
      { recipients: ['bob@example.com'] },
    );
    const lockedRaw = {
      bucket,
      key: lockedMail.receipt.action.objectKey,
      versionId: (await store.read({ bucket, key: lockedMail.receipt.action.objectKey })).versionId as string,
    };
    await archiveLocker(config, new S3ObjectLocks(setup.s3))?.lockVersion(lockedRaw, lockedRaw);
    lockedRawKey = lockedRaw.key;
    records.push({ messageId: 'again', body: JSON.stringify(lockedMail) } as SQSEvent['Records'][number]);
    expect((await ingest({ Records: records }, context)).batchItemFailures).toEqual([]);
    const forwardBodies = ingestClients.recorded
      .filter((c) => c.service === 'sqs')
      .flatMap(
        (c) =>
          (c.input.Entries as { MessageBody: string }[] | undefined)?.map((e) => e.MessageBody) ?? [
            c.input.MessageBody as string,
          ],
      );
    expect(forwardBodies.length).toBe(2);

    // Forward: the first copy is sent, the second refused permanently by SES and parked.
    const forwardId = functionId('ForwardFunction');
    const forwardEnv = environment(forwardId);
    const forwardClients = clientsOf(forwardId);
    let sends = 0;
    const sesv2 = recordCalls(new SESv2Client({ region: REGION }), 'sesv2', forwardClients.recorded, () =>
      ++sends === 1
        ? { MessageId: 'ses-sent-1' }
        : Object.assign(new Error('Email address is not verified.'), {
            name: 'MessageRejected',
            $metadata: { httpStatusCode: 400 },
          }),
    );
    const forwardSqs = recordCalls(new SQSClient({ region: REGION }), 'sqs', forwardClients.recorded, () => ({
      MessageId: 'm',
    }));
    const forward = createForwardHandler({
      config,
      index: new DynamoMailIndex(forwardClients.dynamodb, forwardEnv.INDEX_TABLE as string),
      store: new S3RawMailStore(forwardClients.s3),
      sender: new SesSender(sesv2, forwardEnv.CONFIGURATION_SET),
      gmail: new GmailApi({
        credentials: new SecretsManagerGmailCredentialStore(
          secretsFor(forwardClients.recorded),
          config.stackName,
        ),
        rootUrl: google.rootUrl,
      }),
      parking: new SqsForwardQueue(forwardEnv.FORWARD_DEAD_LETTER_QUEUE_URL as string, forwardSqs),
      logger,
    });
    for (const [i, body] of forwardBodies.entries()) {
      await forward({ Records: [{ messageId: `f${i}`, body } as SQSEvent['Records'][number]] }, context);
    }
    expect(forwardClients.recorded.filter((c) => c.service === 'sqs').length).toBe(1);

    // Feedback: a bounce of the sent copy.
    const feedbackId = functionId('ForwardFeedbackFunction');
    const feedbackClients = clientsOf(feedbackId);
    const feedback = createFeedbackHandler({
      ledger: new DynamoForwardLedger(
        new IndexTable(feedbackClients.dynamodb, environment(feedbackId).INDEX_TABLE as string),
      ),
      logger,
    });
    await feedback({
      Records: [
        {
          Sns: {
            Message: JSON.stringify({
              eventType: 'Bounce',
              mail: { messageId: 'ses-sent-1' },
              bounce: {
                bounceType: 'Permanent',
                bounceSubType: 'General',
                bouncedRecipients: [{ emailAddress: 'alice.example@gmail.com' }],
              },
            }),
          },
        },
      ],
    } as unknown as SNSEvent);

    // Export: a two-part export; the second part runs as the invocation the first one dispatched.
    const exportId = functionId('ExportFunction');
    const exportEnv = environment(exportId);
    const exportClients = clientsOf(exportId);
    const lambda = recordCalls(
      new LambdaClient({ region: REGION }),
      'lambda',
      exportClients.recorded,
      () => ({ StatusCode: 202 }),
    );
    const exporter = createExportHandler({
      index: new DynamoMailIndex(exportClients.dynamodb, exportEnv.INDEX_TABLE as string),
      store: new S3RawMailStore(exportClients.s3),
      bucket: exportEnv.RAW_BUCKET as string,
      proofs: logBundleProofs(
        new S3WriteOnceStore(exportClients.s3, exportEnv.RAW_BUCKET as string, TRANSPARENCY_PREFIX),
        leafIdentity,
      ),
      logger,
      dispatch: asyncInvoker(exportEnv.AWS_LAMBDA_FUNCTION_NAME as string, lambda),
    });
    await exporter({ mailbox: 'alice@example.com', exportId: '20260101T000000000Z-abcdef', parts: 2 });
    const dispatched = exportClients.recorded.find((c) => c.service === 'lambda');
    expect(dispatched).toBeDefined();
    await exporter(JSON.parse(Buffer.from(dispatched?.input.Payload as Uint8Array).toString()));

    // Scheduled reconcile: one message stored but never announced (SES could not publish) is found and indexed.
    const reconcileId = functionId('ReconcileFunction');
    const reconcileEnv = environment(reconcileId);
    const reconcileClients = clientsOf(reconcileId);
    const reconcileSqs = recordCalls(
      new SQSClient({ region: REGION }),
      'sqs',
      reconcileClients.recorded,
      () => ({
        Successful: [],
        Failed: [],
        MessageId: 'm',
      }),
    );
    await receiveLikeSes(store, bucket, makeMessage({ subject: 'never announced' }), {
      recipients: ['alice@example.com'],
    });
    // And a canary never announced: reindexed like ingest would (tagged), then left unlocked by the sweep.
    await receiveLikeSes(
      store,
      bucket,
      makeMessage({ subject: 'canary never announced', to: 'canary@example.com' }),
      {
        recipients: ['canary@example.com'],
      },
    );
    const reconcileLocker = archiveLocker(config, new S3ObjectLocks(reconcileClients.s3));
    const reconcileStore = lockingStore(new S3RawMailStore(reconcileClients.s3), reconcileLocker);
    const reconcile = createReconcileHandler({
      config,
      store: reconcileStore,
      ...(reconcileLocker ? { locker: reconcileLocker } : {}),
      index: new DynamoMailIndex(reconcileClients.dynamodb, reconcileEnv.INDEX_TABLE as string),
      bucket: reconcileEnv.RAW_BUCKET as string,
      deliveryLog: new DeliveryLog(reconcileStore, reconcileEnv.RAW_BUCKET as string),
      forwards: new SqsForwardQueue(reconcileEnv.FORWARD_QUEUE_URL as string, reconcileSqs),
      logger,
      // Metrics are log lines (the embedded metric format), no API call to record.
      metrics: { addMetric: () => undefined, publishStoredMetrics: () => undefined } as never,
    });
    await reconcile().catch(() => undefined);

    // Sent collection: what the Gmail user sent is archived into alice's Sent folder.
    const sentId = functionId('GmailDeliverySentCollectorFunction');
    const sentEnv = environment(sentId);
    const sentClients = clientsOf(sentId);
    const sentStore = lockingStore(
      new S3RawMailStore(sentClients.s3),
      archiveLocker(config, new S3ObjectLocks(sentClients.s3)),
    );
    const collect = createGmailSentHandler({
      config,
      reader: new GmailApi({
        credentials: new SecretsManagerGmailCredentialStore(
          secretsFor(sentClients.recorded),
          config.stackName,
        ),
        rootUrl: google.rootUrl,
      }),
      store: sentStore,
      state: new RawStoreSentCollectionState(sentStore, sentEnv.RAW_MAIL_BUCKET as string),
      index: new DynamoMailIndex(sentClients.dynamodb, sentEnv.INDEX_TABLE as string),
      bucket: sentEnv.RAW_MAIL_BUCKET as string,
      deliveryLog: new DeliveryLog(sentStore, sentEnv.RAW_MAIL_BUCKET as string),
      logger,
    });
    await collect();
    google.userSends(GMAIL_TARGET, makeMessage({ subject: 'sent from gmail' }));
    await collect();

    // Seal: the delivery log the runs above wrote is sealed (after a run that stopped) and sealed again (nothing
    // new), signed by the KMS key (answered by an Ed25519 stand-in), the grown checkpoint mailed through the
    // alarm topic, and each file it creates locked.
    const sealId = functionId('SealFunction');
    const sealEnv = environment(sealId);
    const sealClients = clientsOf(sealId);
    const ed25519 = generateKeyPairSync('ed25519');
    const kms = recordCalls(
      new KMSClient({ region: REGION }),
      'kms',
      sealClients.recorded,
      (command, input) =>
        command === 'GetPublicKey'
          ? {
              KeySpec: 'ECC_NIST_EDWARDS25519',
              KeyUsage: 'SIGN_VERIFY',
              PublicKey: ed25519.publicKey.export({ format: 'der', type: 'spki' }),
            }
          : { Signature: sign(null, input.Message as Uint8Array, ed25519.privateKey) },
    );
    const sns = recordCalls(new SNSClient({ region: REGION }), 'sns', sealClients.recorded, () => ({
      MessageId: 'n',
    }));
    // The first seal stops between its first file's put and that file's lock (the lock step fails once).
    const sealLocks = new S3ObjectLocks(sealClients.s3);
    let lockFails = true;
    const interrupted: ObjectLocks = Object.assign(Object.create(sealLocks), {
      retain: async (version: ObjectVersion, retention: Retention) => {
        if (!lockFails) return sealLocks.retain(version, retention);
        lockFails = false;
        throw new Error('the seal stopped before its lock step');
      },
    });
    const seal = createSealHandler({
      store: new S3WriteOnceStore(
        sealClients.s3,
        sealEnv.RAW_BUCKET as string,
        TRANSPARENCY_PREFIX,
        archiveLocker(config, interrupted),
      ),
      signer: () => KmsNoteSigner.open(kms, sealEnv.SIGNING_KEY_ARN as string, logOrigin(config, 'aws')),
      source: deliveryLogSource(
        new DeliveryLog(new S3RawMailStore(sealClients.s3), sealEnv.RAW_BUCKET as string),
      ),
      witness: new SnsCheckpointWitness(sns, sealEnv.ALARM_TOPIC_ARN as string),
      logger,
      metrics: new Metrics({ namespace: 'MailArchiver', serviceName: 'mail-archiver-seal' }),
    });
    await expect(seal()).rejects.toThrow('the seal stopped before its lock step');
    expect((await seal()).size).toBeGreaterThan(0);
    await seal();
    // The scheduled reconcile's next run: its lock sweep finds the log file the first seal left unlocked.
    await reconcile().catch(() => undefined);
    const setupLocks = new S3ObjectLocks(setup.s3);
    for await (const version of setupLocks.versions(bucket, TRANSPARENCY_PREFIX))
      expect(await setupLocks.retention(version), version.key).toBeDefined();

    // Canary: the first run sends (no record yet); SES stores the canary without announcing it (SES's own
    // Message-ID in place of ours); the second run finds it by listing incoming/ and reading header blocks.
    const canaryId = functionId('HealthCanaryFunction');
    const canaryEnv = environment(canaryId);
    const canaryClients = clientsOf(canaryId);
    const canarySes = recordCalls(
      new SESv2Client({ region: REGION }),
      'sesv2',
      canaryClients.recorded,
      () => ({
        MessageId: 'ses-canary-1',
      }),
    );
    const canaryStore = new S3RawMailStore(canaryClients.s3);
    const canaryBucket = canaryEnv.RAW_BUCKET as string;
    const canary = createCanaryHandler({
      config,
      store: canaryStore,
      bucket: canaryBucket,
      index: new DynamoMailIndex(canaryClients.dynamodb, canaryEnv.INDEX_TABLE as string),
      sender: new SesSender(canarySes),
      findStored: storedCanaryFinder(canaryStore, canaryBucket),
      logger,
      metrics: { addMetric: () => undefined, publishStoredMetrics: () => undefined } as never,
    });
    const sentCanary = await canary();
    await receiveLikeSes(
      store,
      bucket,
      makeMessage({
        subject: `mail-archiver canary ${sentCanary.sent.id}`,
        messageId: '<ses-canary-1@email.amazonses.com>',
      }),
      { recipients: ['canary@example.com'] },
    );
    expect((await canary()).judged?.trail.storedAt).toBeDefined();

    // Gatekeeper: an unknown recipient on the journal subdomain is bounced.
    const gatekeeperId = functionId('GatekeeperFunction');
    const gatekeeperCalls = calls.get(gatekeeperId) as RecordedCall[];
    const ses = recordCalls(new SESClient({ region: REGION }), 'ses', gatekeeperCalls, () => ({
      MessageId: 'b',
    }));
    const metrics = new Metrics({ namespace: 'MailArchiver', serviceName: 'mail-archiver-gatekeeper' });
    const gatekeeper = createGatekeeperHandler({ config, bouncer: new SesBouncer(ses), logger, metrics });
    await gatekeeper({
      Records: [
        { ses: { mail: { messageId: 'x' }, receipt: { recipients: ['nobody@journal.example.com'] } } },
      ],
    } as unknown as SESEvent);

    // Rule set activation: created, then deleted while still active.
    const activationId = functionId('RuleSetActivationFunction');
    const activationCalls = calls.get(activationId) as RecordedCall[];
    const activationSes = recordCalls(new SESClient({ region: REGION }), 'ses', activationCalls, (command) =>
      command === 'DescribeActiveReceiptRuleSet' ? { Metadata: { Name: 'mail-archiver' } } : {},
    );
    const activation = createActivationHandler({
      ruleSets: new SesActiveRuleSet(activationSes),
      respond: async () => {},
      logger,
    });
    const event = {
      ServiceToken: 'x',
      ResponseURL: 'https://example.invalid/',
      StackId: 'stack',
      RequestId: 'r',
      LogicalResourceId: 'RuleSetActivation',
      ResourceType: 'Custom::ReceiptRuleSetActivation',
      ResourceProperties: { ServiceToken: 'x', RuleSetName: 'mail-archiver' },
    };
    await activation({ ...event, RequestType: 'Create' } as CloudFormationCustomResourceEvent);
    await activation({
      ...event,
      RequestType: 'Delete',
      PhysicalResourceId: 'p',
    } as CloudFormationCustomResourceEvent);
  }

  /** The role's statements the Lambda service itself uses for the function (logs, tracing, its event source). */
  const usedByLambdaItself = (statement: Record<string, unknown>) =>
    JSON.stringify(statement.Action).match(/logs:|xray:|sqs:ReceiveMessage/) !== null ||
    // The feedback function's on-failure destination: Lambda delivers the failed event with the function's role.
    JSON.stringify(statement.Resource).includes('ForwardFeedbackDeadLetterQueue');
  /**
   * Grants used only on a failure path the runs above do not take, each with the reason it is needed.
   */
  const failurePathOnly: Record<string, string> = {
    's3:AbortMultipartUpload': 'lib-storage aborts the multipart upload of a bundle part that failed',
    's3:ListBucket':
      'no request of its own: without it S3 answers the HeadObject of an envelope sidecar not yet written with 403, not 404',
  };

  const requestsOf = (id: string): IamRequest[] =>
    (calls.get(id) ?? []).flatMap((call) => {
      const requests = iamRequestsFor(call, REGION, ACCOUNT);
      // A publish to a topic encrypted with a customer managed key makes SNS call KMS with the publisher's
      // permissions (SNS developer guide, "Key management"): those requests are the publisher's too.
      return requests.flatMap((request) => {
        if (request.action !== 'sns:Publish') return [request];
        const topic = model.resourceFor(request.resource);
        const key = topic ? model.resources[topic]?.Properties?.KmsMasterKeyId : undefined;
        if (!key) return [request];
        const keyArn = model.resolve<string>(key);
        return [
          request,
          { action: 'kms:GenerateDataKey', resource: keyArn, context: request.context },
          { action: 'kms:Decrypt', resource: keyArn, context: request.context },
        ];
      });
    });

  it('recorded calls from every function of the stack', () => {
    for (const id of functionIds) expect(requestsOf(id).length, id).toBeGreaterThan(0);
  });

  it('composed each function from the adapters its own composition root (lambdas/*/index.ts) uses', () => {
    // The runs above build each handler as its index.ts does; a composition root that starts using another
    // adapter (another AWS service) must be recorded here too, or this fails.
    const composedHere: Record<string, string[]> = {
      ingest: ['clients', 'dynamo-index', 's3-object-locks', 's3-raw-store', 'sqs-forward-queue'],
      forward: [
        'clients',
        'dynamo-index',
        'gmail-api',
        'gmail-credentials',
        's3-raw-store',
        'ses-sender',
        'sqs-forward-queue',
      ],
      'gmail-sent': [
        'clients',
        'dynamo-index',
        'gmail-api',
        'gmail-credentials',
        'raw-store-sent-state',
        's3-object-locks',
        's3-raw-store',
      ],
      feedback: ['clients', 'dynamo-forward-ledger', 'dynamo-table'],
      export: ['clients', 'dynamo-index', 'lambda-invoker', 's3-raw-store', 's3-write-once-store'],
      gatekeeper: ['ses-bouncer'],
      'rule-set-activation': ['ses-rule-sets'],
      reconcile: ['clients', 'dynamo-index', 's3-object-locks', 's3-raw-store', 'sqs-forward-queue'],
      canary: ['clients', 'dynamo-index', 'http-ping', 's3-raw-store', 'ses-sender'],
      seal: [
        'clients',
        'kms-note-signer',
        's3-object-locks',
        's3-raw-store',
        's3-write-once-store',
        'sns-witness',
        'tsa-client',
      ],
    };
    const lambdas = join(import.meta.dirname, '../../lambdas');
    const roots = readdirSync(lambdas).filter((d) => existsSync(join(lambdas, d, 'index.ts')));
    expect(roots.sort()).toEqual(Object.keys(composedHere).sort());
    for (const root of roots) {
      const source = readFileSync(join(lambdas, root, 'index.ts'), 'utf8');
      const adapters = [...source.matchAll(/from '\.\.\/\.\.\/shared\/adapters\/([\w-]+)'/g)].map(
        (m) => m[1],
      );
      expect(adapters.sort(), root).toEqual(composedHere[root]);
    }
  });

  it.each(ourFunctions)('%s: each recorded request is Allowed', async (id) => {
    const role = model.roleOf(id);
    const identityPolicies = model.rolePolicies(role);
    const principal = model.getAtt(role, 'Arn');
    const denied: string[] = [];
    // A request whose denial only leaves something out of the answer is checked where the code uses it (below).
    for (const request of requestsOf(id).filter((r) => r.withheld === undefined)) {
      const bucket = request.resource.match(/^arn:aws:s3:::([^/]+)/)?.[1];
      const owner = bucket
        ? model.resourceFor(`arn:aws:s3:::${bucket}`)
        : model.resourceFor(request.resource);
      const result = await simulate(principal, request.action, request.resource, {
        identityPolicies,
        resourcePolicy: owner ? model.resourcePolicy(owner) : undefined,
        context: request.context,
      });
      if (verdict(result) !== 'Allowed')
        denied.push(`${request.action} ${request.resource}: ${verdict(result)}`);
    }
    expect(denied).toEqual([]);
  });

  /**
   * Each of `requests` (function `id`'s) is Allowed by its role and ImplicitlyDenied once `action` is taken out of
   * every statement of the role's policies: the verdict rests on that grant and nothing else.
   */
  async function expectOnlyThisGrantAllows(id: string, requests: IamRequest[], action: string) {
    const role = model.roleOf(id);
    const withoutGrant = model.rolePolicies(role).map(({ name, policy }) => ({
      name,
      policy: {
        ...policy,
        Statement: policy.Statement.flatMap((statement) => {
          const actions = ([] as string[])
            .concat(statement.Action as string | string[])
            .filter((a) => a !== action);
          return actions.length > 0 ? [{ ...statement, Action: actions }] : [];
        }),
      },
    }));
    const principal = model.getAtt(role, 'Arn');
    for (const request of requests) {
      const bucket = model.resourceFor(request.resource.split('/')[0] as string);
      const options = {
        resourcePolicy: bucket ? model.resourcePolicy(bucket) : undefined,
        context: request.context,
      };
      const granted = await simulate(principal, request.action, request.resource, {
        ...options,
        identityPolicies: model.rolePolicies(role),
      });
      const denied = await simulate(principal, request.action, request.resource, {
        ...options,
        identityPolicies: withoutGrant,
      });
      expect([verdict(granted), verdict(denied)], request.resource).toEqual(['Allowed', 'ImplicitlyDenied']);
    }
  }

  it("the seal locks each file of the log it creates, which only the seal's lock grant allows", async () => {
    // Watched to fail: without the grant (its statements' s3:PutObjectRetention taken out) the same recorded
    // requests are denied, so the Allowed verdict above rests on that grant and nothing else.
    const id = functionId('SealFunction');
    const locks = requestsOf(id).filter((r) => r.action === 's3:PutObjectRetention');
    expect(locks.length).toBeGreaterThan(0);
    expect(locks.every((r) => r.resource.includes(`/${TRANSPARENCY_PREFIX}`))).toBe(true);
    await expectOnlyThisGrantAllows(id, locks, 's3:PutObjectRetention');
  });

  it('ingest is told the retention of the raw versions it reads, which only its s3:GetObjectRetention grant allows, and asks for no retention a version has', async () => {
    // Watched to fail: without the grant S3 would leave the lock headers out of ingest's reads, and its lock step
    // would ask a version locked longer for a shorter retention (refused: AccessDenied).
    const id = functionId('IngestFunction');
    const told = requestsOf(id).filter(
      (r) => r.action === 's3:GetObjectRetention' && r.resource.includes(`/${RAW_MAIL_PREFIX}`),
    );
    expect(told.map((r) => r.resource.split('/').slice(1).join('/'))).toContain(lockedRawKey);
    await expectOnlyThisGrantAllows(id, told, 's3:GetObjectRetention');
    const locked = (calls.get(id) ?? []).filter((c) => c.command === 'PutObjectRetention');
    expect(locked.map((c) => c.input.Key)).not.toContain(lockedRawKey);
    expect(locked.length).toBe(2);
  });

  it.each(ourFunctions)('%s: holds no grant it never used', (id) => {
    const requests = requestsOf(id);
    const unused: string[] = [];
    const matches = (pattern: string, value: string) =>
      new RegExp(
        `^${pattern
          .split('*')
          .map((p) => p.replace(/[.?+^$[\]\\(){}|/-]/g, '\\$&'))
          .join('.*')}$`,
      ).test(value);
    for (const { policy } of model.rolePolicies(model.roleOf(id))) {
      for (const statement of policy.Statement) {
        if (usedByLambdaItself(statement)) continue;
        const actions = ([] as string[]).concat(statement.Action as string | string[]);
        const resources = ([] as string[]).concat(statement.Resource as string | string[]);
        for (const action of actions) {
          if (failurePathOnly[action]) continue;
          const used = requests.some(
            (r) => matches(action, r.action) && resources.some((p) => matches(p, r.resource)),
          );
          if (!used) unused.push(`${action} on ${resources.join(', ')}`);
        }
      }
    }
    expect(unused).toEqual([]);
  });
});
