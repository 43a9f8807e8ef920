// `mail-archiver doctor`: the AWS checks with the SDK calls mocked (aws-sdk-client-mock: SES, SES v2, SNS, SQS,
// CloudWatch answer as documented) and the DNS checks against a real DNS server on loopback (dns2), read by
// node's own resolver; the local checks against a real listening socket; the command itself run as a process.
import { spawnSync } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import {
  CloudWatchClient,
  DescribeAlarmsCommand,
  GetMetricStatisticsCommand,
} from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DescribeActiveReceiptRuleSetCommand, SESClient } from '@aws-sdk/client-ses';
import { GetAccountCommand, GetEmailIdentityCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import { ListSubscriptionsByTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import dns2 from 'dns2';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AwsDoctorDeps, runAwsChecks, runAwsDoctor } from '../../../../cli/doctor/aws-checks';
import { type Check, formatChecks } from '../../../../cli/doctor/check';
import { runLocalChecks, tcpReachable } from '../../../../cli/doctor/local-checks';
import { DEAD_LETTER_QUEUES } from '../../../../cli/target/dead-letter-queues';
import { healthLines, healthView } from '../../../../cli/target/health';
import { readReconcileRecord, recordReconcileRun } from '../../../../cli/target/reconcile-record';
import { S3RawMailStore } from '../../../../shared/adapters/s3-raw-store';
import { reconcileRunOf } from '../../../../shared/archive/reconcile-run';
import { CANARY_RECORD_KEY, type DeliveryRow, RECONCILE_REPORT_KEY } from '../../../../shared/index/schema';
import type { DeliveryIndex } from '../../../../shared/ports';
import { exampleConfig } from '../../../support/config';
import { reconcileReport } from '../../../support/reconcile';

const REGION = 'eu-west-1';
const ENDPOINT = `inbound-smtp.${REGION}.amazonaws.com`;
const TOKENS = ['tok1', 'tok2', 'tok3'];
const ses = mockClient(SESClient);
const sesv2 = mockClient(SESv2Client);
const sns = mockClient(SNSClient);
const sqs = mockClient(SQSClient);
const cloudwatch = mockClient(CloudWatchClient);
const s3 = mockClient(S3Client);

/** The zone the loopback DNS server answers from: name -> records, per type. */
let zone: { a: Record<string, string>; mx: Record<string, string[]>; cname: Record<string, string> };
let server: ReturnType<typeof dns2.createServer>;
let resolver: Resolver;

beforeAll(async () => {
  const { Packet } = dns2;
  server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      const [question] = request.questions;
      const name = question?.name ?? '';
      const base = { name, class: Packet.CLASS.IN, ttl: 60 };
      if (question?.type === Packet.TYPE.A && zone.a[name]) {
        response.answers.push({ ...base, type: Packet.TYPE.A, address: zone.a[name] } as never);
      }
      if (question?.type === Packet.TYPE.MX) {
        for (const [i, exchange] of (zone.mx[name] ?? []).entries()) {
          response.answers.push({ ...base, type: Packet.TYPE.MX, exchange, priority: 10 * (i + 1) } as never);
        }
      }
      if (question?.type === Packet.TYPE.CNAME && zone.cname[name]) {
        response.answers.push({ ...base, type: Packet.TYPE.CNAME, domain: zone.cname[name] } as never);
      }
      send(response);
    },
  });
  const listening = new Promise<void>((done) => server.on('listening', () => done()));
  server.listen({ udp: { port: 0, address: '127.0.0.1' } });
  await listening;
  const { port } = (server.addresses() as { udp: { port: number } }).udp;
  resolver = new Resolver({ timeout: 500, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
});
afterAll(() => server.close());

/** A healthy, deployed archiver. */
function healthy() {
  zone = {
    a: { [ENDPOINT]: '192.0.2.25' },
    mx: { 'example.com': [ENDPOINT], 'journal.example.com': [ENDPOINT] },
    cname: Object.fromEntries(TOKENS.map((t) => [`${t}._domainkey.example.com`, `${t}.dkim.amazonses.com`])),
  };
  for (const m of [ses, sesv2, sns, sqs, cloudwatch, s3]) m.reset();
  newest = {
    'alice@example.com': '2026-11-29T09:30:00.000Z',
    'canary@example.com': '2026-11-29T10:00:05.000Z',
  };
  // The canary function's record: the last round trip on time (reports/canary.json); no other object (S3 answers
  // HeadObject of a missing key 404 NotFound, the caller holding s3:ListBucket).
  s3.on(HeadObjectCommand).rejects(
    Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } }),
  );
  s3.on(HeadObjectCommand, { Key: CANARY_RECORD_KEY }).resolves({});
  s3.on(GetObjectCommand, { Key: CANARY_RECORD_KEY }).callsFake(() => ({
    Body: Readable.from([
      Buffer.from(
        JSON.stringify({
          messageId: '<c2@example.com>',
          trail: { id: 'c2', sentAt: '2026-11-29T10:00:00Z', sesMessageId: 'ses-c2' },
          previous: {
            trail: { id: 'c1', sentAt: '2026-11-29T04:00:00Z', sesMessageId: 'ses-c1' },
            verdict: { outcome: 'on-time', latencySeconds: 35 },
          },
        }),
      ),
    ]) as never,
  }));
  cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [], CompositeAlarms: [] });
  ses.on(DescribeActiveReceiptRuleSetCommand).resolves({ Metadata: { Name: 'mail-archiver' }, Rules: [] });
  sesv2.on(GetAccountCommand).resolves({
    ProductionAccessEnabled: true,
    SendingEnabled: true,
    SendQuota: { Max24HourSend: 50000, MaxSendRate: 14, SentLast24Hours: 120 },
  });
  sesv2.on(GetEmailIdentityCommand).resolves({
    VerifiedForSendingStatus: true,
    FeedbackForwardingStatus: false,
    DkimAttributes: { Status: 'SUCCESS', Tokens: TOKENS },
  });
  sns.on(ListSubscriptionsByTopicCommand).resolves({
    Subscriptions: [
      { Protocol: 'email', Endpoint: 'ops@example.com', SubscriptionArn: 'arn:aws:sns:eu-west-1:1:t:abc' },
    ],
  });
  sqs.on(GetQueueAttributesCommand).resolves({
    Attributes: { ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' },
  });
  cloudwatch
    .on(GetMetricStatisticsCommand, { MetricName: 'Reputation.BounceRate' })
    .resolves({ Datapoints: [{ Maximum: 0.01 }] });
  cloudwatch
    .on(GetMetricStatisticsCommand, { MetricName: 'Reputation.ComplaintRate' })
    .resolves({ Datapoints: [] });
}

const now = new Date('2026-11-29T12:00:00Z');
/** The data directory of the AWS doctor runs: no CLI reconcile recorded there. */
const awsHome = mkdtempSync(join(tmpdir(), 'doctor-aws-'));
afterAll(() => rmSync(awsHome, { recursive: true, force: true }));
/** The index's newest rows per mailbox (the index is a port: DynamoDB's adapter is tested against DynamoDB Local). */
let newest: Record<string, string>;
const index: Pick<DeliveryIndex, 'mailboxes' | 'listDeliveries'> = {
  mailboxes: async () => Object.keys(newest).sort(),
  async *listDeliveries(mailbox: string) {
    const receivedAt = newest[mailbox];
    if (receivedAt) yield { receivedAt } as DeliveryRow;
  },
};
function deps(overrides: Partial<AwsDoctorDeps> = {}): AwsDoctorDeps {
  return {
    config: exampleConfig(),
    region: REGION,
    ses: new SESClient({ region: REGION }),
    sesv2: new SESv2Client({ region: REGION }),
    sns: new SNSClient({ region: REGION }),
    sqs: new SQSClient({ region: REGION }),
    cloudwatch: new CloudWatchClient({ region: REGION }),
    s3: new S3Client({ region: REGION }),
    dns: resolver,
    outputs: {
      RawMailBucketName: 'raw-bucket',
      AlarmTopicArn: 'arn:aws:sns:eu-west-1:111111111111:alarms',
      IngestDeadLetterQueueUrl: 'https://sqs.eu-west-1.amazonaws.com/111111111111/ingest-dlq',
      ReceivedNotificationDeadLetterQueueUrl:
        'https://sqs.eu-west-1.amazonaws.com/111111111111/notification-dlq',
      ForwardDeadLetterQueueUrl: 'https://sqs.eu-west-1.amazonaws.com/111111111111/forward-dlq',
      ForwardFeedbackDeadLetterQueueUrl: 'https://sqs.eu-west-1.amazonaws.com/111111111111/feedback-dlq',
    },
    lastReconcile: reconcileRunOf(reconcileReport(true), new Date('2026-11-28T12:00:00Z'), undefined),
    home: awsHome,
    archive: { store: new S3RawMailStore(new S3Client({ region: REGION })), bucket: 'raw-bucket', index },
    now: () => now,
    ...overrides,
  };
}
const byName = (checks: Check[]) => Object.fromEntries(checks.map((c) => [c.name, c]));

beforeEach(healthy);

describe('doctor against AWS', () => {
  it('says ok to every check of a healthy deployed archiver', async () => {
    const checks = await runAwsChecks(deps());
    expect(checks.filter((c) => c.status !== 'ok').map((c) => `${c.name}: ${c.detail}`)).toEqual([]);
    expect(Object.keys(byName(checks))).toEqual([
      'region',
      'receipt rule set',
      'sending',
      'identity example.com',
      'dkim example.com',
      'mx example.com',
      'mx journal.example.com',
      'alarm subscription',
      'reputation',
      'last received',
      'dead letters ingest',
      'dead letters notification',
      'dead letters forward',
      'dead letters feedback',
      'reconcile',
      'canary',
      'alarms',
      'export encryption',
    ]);
    expect(byName(checks).sending?.detail).toBe(
      'production access in eu-west-1 (120 of 50000 sent in 24 h, at most 14/s)',
    );
  });

  it('finds each problem, says how bad it is and the one thing to do about it', async () => {
    delete zone.a[ENDPOINT];
    zone.mx['example.com'] = ['mx.old-provider.example.net'];
    zone.mx['journal.example.com'] = ['backup.example.net', ENDPOINT];
    delete zone.cname['tok2._domainkey.example.com'];
    ses.on(DescribeActiveReceiptRuleSetCommand).resolves({ Metadata: { Name: 'someone-elses' }, Rules: [] });
    sesv2.on(GetAccountCommand).resolves({
      ProductionAccessEnabled: false,
      SendingEnabled: true,
      SendQuota: { Max24HourSend: 200, MaxSendRate: 1, SentLast24Hours: 3 },
    });
    sesv2.on(GetEmailIdentityCommand).resolves({
      VerifiedForSendingStatus: false,
      FeedbackForwardingStatus: true,
      DkimAttributes: { Status: 'PENDING', Tokens: TOKENS },
    });
    sns.on(ListSubscriptionsByTopicCommand).resolves({
      Subscriptions: [
        { Protocol: 'email', Endpoint: 'ops@example.com', SubscriptionArn: 'PendingConfirmation' },
      ],
    });
    sqs.on(GetQueueAttributesCommand, { QueueUrl: deps().outputs?.ForwardDeadLetterQueueUrl }).resolves({
      Attributes: { ApproximateNumberOfMessages: '3', ApproximateNumberOfMessagesNotVisible: '0' },
    });
    // The feedback dead-letter queue, which `status` counts, is checked too (one in flight counts).
    sqs
      .on(GetQueueAttributesCommand, { QueueUrl: deps().outputs?.ForwardFeedbackDeadLetterQueueUrl })
      .resolves({
        Attributes: { ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '1' },
      });
    cloudwatch
      .on(GetMetricStatisticsCommand, { MetricName: 'Reputation.BounceRate' })
      .resolves({ Datapoints: [{ Maximum: 0.04 }, { Maximum: 0.12 }] });
    cloudwatch
      .on(DescribeAlarmsCommand)
      .resolves({ MetricAlarms: [{ AlarmName: 'MailArchiver-ForwardDeadLettersAlarm' }] });
    const checks = byName(
      await runAwsChecks(
        deps({
          lastReconcile: reconcileRunOf(reconcileReport(false), new Date('2026-11-29T10:00:00Z'), {
            lastCleanAt: '2026-11-01T00:00:00.000Z',
          }),
        }),
      ),
    );
    const summary = Object.fromEntries(Object.entries(checks).map(([name, c]) => [name, c.status]));
    expect(summary).toEqual({
      region: 'fail',
      'receipt rule set': 'warn',
      sending: 'warn',
      'identity example.com': 'warn',
      'last received': 'ok',
      'feedback example.com': 'warn',
      'dkim example.com': 'fail',
      'mx example.com': 'fail',
      'mx journal.example.com': 'warn',
      'alarm subscription': 'warn',
      reputation: 'fail',
      'dead letters ingest': 'ok',
      'dead letters notification': 'ok',
      'dead letters forward': 'fail',
      'dead letters feedback': 'fail',
      reconcile: 'fail',
      canary: 'ok',
      alarms: 'fail',
      'export encryption': 'ok',
    });
    expect(checks['receipt rule set']?.detail).toMatch(
      /someone-elses is active; deploying makes mail-archiver the active set instead/,
    );
    expect(checks['mx example.com']?.fix).toBe(`set the MX record of example.com to: 10 ${ENDPOINT}`);
    expect(checks['dkim example.com']?.fix).toBe(
      'create tok2._domainkey.example.com CNAME tok2.dkim.amazonses.com',
    );
    expect(checks['feedback example.com']?.fix).toMatch(
      /put-email-identity-feedback-attributes --email-identity example\.com --no-email-forwarding-enabled/,
    );
    expect(checks.reputation?.detail).toMatch(/bounce rate 12\.00%/);
    expect(checks['dead letters forward']?.detail).toBe('3 messages');
    expect(checks['dead letters feedback']?.detail).toBe('1 message');
    for (const c of Object.values(checks)) if (c.status !== 'ok') expect(c.fix, c.name).toMatch(/\S/);
  });

  it('before the first deploy: warns about what the deploy will create, and fails on nothing it will fix', async () => {
    ses.on(DescribeActiveReceiptRuleSetCommand).resolves({});
    sesv2
      .on(GetEmailIdentityCommand)
      .rejects(
        Object.assign(new Error('Email identity example.com does not exist.'), { name: 'NotFoundException' }),
      );
    const checks = byName(
      await runAwsChecks(deps({ outputs: undefined, lastReconcile: undefined, archive: undefined })),
    );
    for (const name of [
      'last received',
      'receipt rule set',
      'identity example.com',
      'dkim example.com',
      'alarm subscription',
      'dead letters ingest',
      'reconcile',
      'canary',
      'alarms',
    ]) {
      expect(checks[name]?.status, name).toBe('warn');
    }
    expect(checks['alarm subscription']?.fix).toBe('run cdk deploy, then doctor again');
  });

  it('shows the health view status shows, from one definition: every field, every dead-letter queue', async () => {
    // The scheduled reconcile's record in S3 is later than this machine's: both commands show it.
    // A run since a cut-off: status and doctor name it, and what it read.
    const scheduled = reconcileRunOf(
      {
        ...reconcileReport(true),
        since: '2026-11-28T00:00:00.000Z',
        examined: { objects: 7, logObjects: 3, rows: 6 },
      },
      new Date('2026-11-29T06:00:00Z'),
      undefined,
    );
    s3.on(HeadObjectCommand, { Key: RECONCILE_REPORT_KEY }).resolves({});
    s3.on(GetObjectCommand, { Key: RECONCILE_REPORT_KEY }).callsFake(() => ({
      Body: Readable.from([Buffer.from(JSON.stringify(scheduled))]) as never,
    }));
    const counts = { 'ingest-dlq': '2', 'forward-dlq': '1' } as Record<string, string>;
    for (const [queue, n] of Object.entries(counts))
      sqs
        .on(GetQueueAttributesCommand, {
          QueueUrl: `https://sqs.eu-west-1.amazonaws.com/111111111111/${queue}`,
        })
        .resolves({
          Attributes: { ApproximateNumberOfMessages: n, ApproximateNumberOfMessagesNotVisible: '0' },
        });
    cloudwatch.on(DescribeAlarmsCommand).resolves({
      MetricAlarms: [{ AlarmName: 'MailArchiver-IngestDeadLettersAlarm' }],
      CompositeAlarms: [],
    });
    const d = deps();
    const { checks, health } = await runAwsDoctor(d);
    expect(health).toEqual({
      ingestDeadLetters: 2,
      parkedForwards: 1,
      feedbackDeadLetters: 0,
      deadLetterQueues: Object.fromEntries(
        DEAD_LETTER_QUEUES.map((q) => [
          q.output,
          { IngestDeadLetterQueueUrl: 2, ForwardDeadLetterQueueUrl: 1 }[q.output as string] ?? 0,
        ]),
      ),
      notIndexed: 0,
      lastReconcileAt: '2026-11-29T06:00:00.000Z',
      lastReconcileOk: true,
      lastCleanReconcileAt: '2026-11-29T06:00:00.000Z',
      lastReconcileKind: 'changes since 2026-11-28T00:00:00.000Z, 7 objects, 3 log objects, 6 rows examined',
      alarmsFiring: ['MailArchiver-IngestDeadLettersAlarm'],
      // Canaries aside: the canary mailbox's newer row is not "mail received".
      lastReceivedAt: '2026-11-29T09:30:00.000Z',
      canary: {
        state: 'ok',
        lastSentAt: '2026-11-29T10:00:00Z',
        lastRoundTrip: expect.objectContaining({ outcome: 'on-time', latencySeconds: 35, failed: false }),
      },
    });
    // status reads the same view through the same function; --json prints it as it is.
    if (!d.archive) throw new Error('deployed');
    expect(await healthView(d.config, d.archive, awsHome, d)).toEqual(health);
    expect(JSON.parse(JSON.stringify(health))).toEqual(health);
    const lines = healthLines(health ?? ({} as never)).join('\n');
    for (const line of [
      /^last received: +2026-11-29T09:30:00\.000Z$/m,
      /^canary: +last round trip on-time after 35\.0 s/m,
      /^last reconcile: +clean at 2026-11-29T06:00:00\.000Z \(changes since 2026-11-28T00:00:00\.000Z, 7 objects, 3 log objects, 6 rows examined\)$/m,
      /^dead-letter queues: +Ingest 2, ReceivedNotification 0, Forward 1, ForwardFeedback 0$/m,
      /^parked forwards: +1/m,
      /^alarms firing: +MailArchiver-IngestDeadLettersAlarm/m,
    ])
      expect(lines).toMatch(line);
    const byCheck = byName(checks);
    expect(byCheck['last received']).toMatchObject({
      status: 'ok',
      detail: '2026-11-29T09:30:00.000Z (3 h ago)',
    });
    expect(byCheck.reconcile).toMatchObject({
      status: 'ok',
      detail:
        'ran clean at 2026-11-29T06:00:00.000Z (last run: changes since 2026-11-28T00:00:00.000Z, 7 objects, 3 log objects, 6 rows examined)',
    });
  });

  it('last received: fails past health.silenceAlarmHours, warns when nothing arrived yet', async () => {
    const silent = exampleConfig({ health: { silenceAlarmHours: 2 } });
    expect(byName(await runAwsChecks(deps({ config: silent })))['last received']).toMatchObject({
      status: 'fail',
      detail: '2026-11-29T09:30:00.000Z (3 h ago): longer than health.silenceAlarmHours (2 h)',
      fix: expect.stringMatching(/mx, receipt rule set and identity checks; SilenceAlarm/),
    });
    newest = { 'canary@example.com': '2026-11-29T10:00:05.000Z' };
    const { checks, health } = await runAwsDoctor(deps());
    expect(byName(checks)['last received']).toMatchObject({ status: 'warn' });
    expect(health?.lastReceivedAt).toBeNull();
  });

  it('turns a refused call into a failed check instead of stopping', async () => {
    sesv2.on(GetAccountCommand).rejects(
      Object.assign(new Error('User is not authorized to perform: ses:GetAccount'), {
        name: 'AccessDeniedException',
      }),
    );
    const checks = byName(await runAwsChecks(deps()));
    expect(checks.sending).toMatchObject({
      status: 'fail',
      detail: 'AccessDeniedException: User is not authorized to perform: ses:GetAccount',
    });
    expect(checks.reputation?.status).toBe('ok');
  });

  it('prints one line per check and the fix under it', () => {
    const lines = formatChecks([
      { name: 'region', status: 'ok', detail: 'fine' },
      { name: 'mx example.com', status: 'fail', detail: 'no MX record', fix: 'set it' },
    ]);
    expect(lines).toEqual([
      'ok    region          fine',
      'fail  mx example.com  no MX record',
      '                      fix: set it',
    ]);
  });
});

describe('doctor against the local stack', () => {
  let listener: Server;
  let port: number;
  let home: string;
  beforeAll(async () => {
    listener = createServer((socket) => socket.end());
    await new Promise<void>((done) => listener.listen(0, '127.0.0.1', done));
    port = (listener.address() as { port: number }).port;
    home = mkdtempSync(join(tmpdir(), 'doctor-'));
  });
  afterAll(() => {
    listener.close();
    rmSync(home, { recursive: true, force: true });
  });

  /** A loopback port nothing listens on (one that was free a moment ago). */
  const closedPort = () =>
    new Promise<number>((done) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => done(p));
      });
    });

  it('checks that the stack runs and its services answer', async () => {
    const closed = await closedPort();
    const running = {
      pid: process.pid,
      startedAt: '2026-11-29T11:00:00Z',
      // As the running stack records them: the data directory's credentials travel beside the two URLs.
      endpoints: {
        s3: `http://127.0.0.1:${port}`,
        dynamodb: `http://127.0.0.1:${closed}`,
        credentials: { accessKeyId: 'LOCALTEST', secretAccessKey: 'secret' },
      },
      bucket: 'b',
      tableName: 't',
    };
    recordReconcileRun(home, 'local', reconcileReport(true), new Date('2026-11-29T11:30:00Z'));
    const checks = byName(
      await runLocalChecks({
        config: exampleConfig(),
        running,
        lastReconcile: readReconcileRecord(home, 'local'),
        now: () => now,
      }),
    );
    expect(Object.fromEntries(Object.entries(checks).map(([n, c]) => [n, c.status]))).toEqual({
      config: 'ok',
      'local stack': 'ok',
      'local s3': 'ok',
      'local dynamodb': 'fail',
      reconcile: 'ok',
      'export encryption': 'ok',
    });
    const notRunning = byName(
      await runLocalChecks({ config: exampleConfig(), running: undefined, lastReconcile: undefined }),
    );
    expect(notRunning['local stack']).toMatchObject({ status: 'warn', fix: 'npm start' });
  });

  it('a canary stopped by a refused connection names the service (found live: only ECONNREFUSED was said)', async () => {
    const closed = await closedPort();
    const running = {
      pid: process.pid,
      startedAt: '2026-11-29T11:00:00Z',
      endpoints: { s3: `http://127.0.0.1:${port}`, dynamodb: `http://127.0.0.1:${closed}` },
      bucket: 'b',
      tableName: 't',
    };
    // The index read of a real SDK client against the stopped DynamoDB Local, as the round trip makes it.
    const dynamodb = new DynamoDBClient({
      endpoint: running.endpoints.dynamodb,
      region: REGION,
      credentials: { accessKeyId: 'LOCALTEST', secretAccessKey: 'secret' },
      maxAttempts: 1,
    });
    const checks = byName(
      await runLocalChecks({
        config: exampleConfig(),
        running,
        lastReconcile: undefined,
        canary: async () => {
          await dynamodb.send(new ListTablesCommand({}));
          throw new Error('DynamoDB Local answered on a closed port');
        },
      }),
    );
    dynamodb.destroy();
    expect(checks.canary).toMatchObject({
      status: 'fail',
      detail: `the round trip stopped: the local dynamodb at http://127.0.0.1:${closed} refused the connection`,
      fix: 'stop npm start and start it again',
    });
  });

  it('a service that accepts connections but never responds (a stopped JVM) does not answer', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
    const silentUrl = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    const http = createServer((socket) =>
      socket.once('data', () => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n')),
    );
    await new Promise<void>((done) => http.listen(0, '127.0.0.1', done));
    const httpUrl = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
    try {
      expect(await tcpReachable(silentUrl, 500)).toBe(false);
      expect(await tcpReachable(httpUrl, 500)).toBe(true);
      expect(await tcpReachable(`http://127.0.0.1:${port}`, 500)).toBe(true);
    } finally {
      silent.close();
      http.close();
    }
  });

  it('remembers when reconcile last ran clean across a run that found differences', () => {
    recordReconcileRun(home, 'aws', reconcileReport(true), new Date('2026-11-20T00:00:00Z'));
    recordReconcileRun(home, 'aws', reconcileReport(false), new Date('2026-11-29T00:00:00Z'));
    expect(readReconcileRecord(home, 'aws')).toMatchObject({
      at: '2026-11-29T00:00:00.000Z',
      ok: false,
      lastCleanAt: '2026-11-20T00:00:00.000Z',
    });
  });

  it('reads a damaged reconcile record as none, never as a failed run at "undefined"', async () => {
    for (const damaged of ['garbage', '{}', '[]', 'null', '{"at":5,"ok":true}', '{"at":"2026-11-29"}']) {
      writeFileSync(join(home, 'last-reconcile.local.json'), damaged);
      expect(readReconcileRecord(home, 'local'), damaged).toBeUndefined();
      const checks = byName(
        await runLocalChecks({
          config: exampleConfig(),
          running: undefined,
          lastReconcile: readReconcileRecord(home, 'local'),
        }),
      );
      expect(checks.reconcile).toMatchObject({ status: 'warn', fix: 'mail-archiver reconcile' });
    }
    rmSync(join(home, 'last-reconcile.local.json'));
  });

  it('runs as a command: --json, and exit 0 when nothing failed', () => {
    const run = spawnSync(
      process.execPath,
      [resolve(import.meta.dirname, '../../../../cli/bin.js'), 'doctor', '--json'],
      {
        env: { ...process.env, XDG_DATA_HOME: home, MAIL_ARCHIVER_HOME: join(home, 'archive') },
        encoding: 'utf8',
        cwd: resolve(import.meta.dirname, '../../../..'),
        timeout: 60_000,
      },
    );
    expect(run.stderr).toBe('');
    const report = JSON.parse(run.stdout) as { target: string; ok: boolean; checks: Check[] };
    expect(report.target).toBe('local');
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => c.name)).toContain('local stack');
    expect(run.status).toBe(0);
  });
});
