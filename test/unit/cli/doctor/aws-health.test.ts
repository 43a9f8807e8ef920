// `doctor --target aws`'s health checks against stand-ins that answer as the published APIs do
// (aws-sdk-client-mock): the canary record the canary function keeps in S3 (GetObject/HeadObject of
// reports/canary.json) and CloudWatch DescribeAlarms (AlarmNamePrefix, StateValue ALARM, paginated by NextToken).
import { Readable } from 'node:stream';
import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { type AwsHealthRun, alarmsCheck, canaryCheck } from '../../../../cli/doctor/aws-health';
import type { Check } from '../../../../cli/doctor/check';
import type { CanaryRecord } from '../../../../shared/health/canary-run';
import { CANARY_RECORD_KEY } from '../../../../shared/index/schema';
import { exampleConfig } from '../../../support/config';

const s3 = mockClient(S3Client);
const cloudwatch = mockClient(CloudWatchClient);
const NOW = new Date('2026-12-06T12:00:00.000Z');
const hoursAgo = (h: number) => new Date(NOW.getTime() - h * 3_600_000).toISOString();

function run(overrides: Partial<AwsHealthRun['deps']> = {}): AwsHealthRun {
  return {
    deps: {
      config: exampleConfig(),
      outputs: { RawMailBucketName: 'raw-bucket' },
      s3: new S3Client({ region: 'eu-west-1' }),
      cloudwatch: new CloudWatchClient({ region: 'eu-west-1' }),
      now: () => NOW,
      ...overrides,
    },
  };
}

/** S3 holding `record` as reports/canary.json (none: 404 as S3 answers it with s3:ListBucket). */
function canaryRecord(record: CanaryRecord | string | undefined) {
  s3.reset();
  if (record === undefined) {
    s3.on(HeadObjectCommand).rejects(
      Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } }),
    );
    return;
  }
  const body = typeof record === 'string' ? record : JSON.stringify(record);
  s3.on(HeadObjectCommand, { Bucket: 'raw-bucket', Key: CANARY_RECORD_KEY }).resolves({});
  s3.on(GetObjectCommand, { Bucket: 'raw-bucket', Key: CANARY_RECORD_KEY }).callsFake(() => ({
    Body: Readable.from([Buffer.from(body)]) as never,
  }));
}

const sent = (id: string, at: string, extra: Partial<CanaryRecord['trail']> = {}) => ({
  id,
  sentAt: at,
  sesMessageId: `ses-${id}`,
  ...extra,
});
const asList = (c: Check | Check[]) => ([] as Check[]).concat(c);

describe('doctor --target aws: the canary', () => {
  beforeEach(() => canaryRecord(undefined));

  it('ok: the last round trip was on time, with its latency', async () => {
    canaryRecord({
      messageId: '<c2@example.com>',
      trail: sent('c2', hoursAgo(1)),
      previous: { trail: sent('c1', hoursAgo(7)), verdict: { outcome: 'on-time', latencySeconds: 42 } },
    });
    const [check] = asList(await canaryCheck.run(run()));
    expect(check).toMatchObject({ name: 'canary', status: 'ok' });
    expect(check?.detail).toMatch(/canary c1 sent .*: archived after 0\.7 min/);
  });

  it('fails where the path broke: late, not stored, not indexed, each with what to look at', async () => {
    const cases = [
      [{ outcome: 'late', latencySeconds: 7200 }, /after 120 min/, /IngestQueueStuckAlarm/],
      [{ outcome: 'not-stored' }, /nothing was stored/, /mx, receipt rule set, identity/],
      [{ outcome: 'not-indexed' }, /but not indexed/, /dead letters and redrive/],
    ] as const;
    for (const [verdict, detail, fix] of cases) {
      canaryRecord({
        messageId: '<c2@example.com>',
        trail: sent('c2', hoursAgo(1)),
        previous: { trail: sent('c1', hoursAgo(7), { storedAt: hoursAgo(6.9) }), verdict },
      });
      const [check] = asList(await canaryCheck.run(run()));
      expect(check?.status, verdict.outcome).toBe('fail');
      expect(check?.detail, verdict.outcome).toMatch(detail);
      expect(check?.fix, verdict.outcome).toMatch(fix);
    }
  });

  it('explains the SES sandbox when SES refused the canary: the domain identity must be verified', async () => {
    const refusal =
      'MessageRejected: Email address is not verified. The following identities failed the check';
    canaryRecord({
      messageId: '<c2@example.com>',
      trail: { id: 'c2', sentAt: hoursAgo(1), sendError: refusal },
      previous: {
        trail: { id: 'c1', sentAt: hoursAgo(7), sendError: refusal },
        verdict: { outcome: 'not-sent', reason: refusal },
      },
    });
    const checks = asList(await canaryCheck.run(run()));
    expect(checks.map((c) => [c.name, c.status])).toEqual([
      ['canary send', 'fail'],
      ['canary', 'fail'],
    ]);
    for (const check of checks) {
      expect(check.fix).toMatch(/SES sandbox SES sends only to verified identities/);
      expect(check.fix).toMatch(/from and to canary@example\.com/);
      expect(check.fix).toMatch(/domain identity example\.com is verified/);
      expect(check.fix).toMatch(/DkimRecord\* CNAMEs of example\.com, or set health\.canary\.address/);
    }
  });

  it('fails when no canary was sent for twice its interval (its schedule or function stopped)', async () => {
    canaryRecord({
      messageId: '<c2@example.com>',
      trail: sent('c2', hoursAgo(13)),
      previous: { trail: sent('c1', hoursAgo(19)), verdict: { outcome: 'on-time', latencySeconds: 30 } },
    });
    const checks = asList(await canaryCheck.run(run()));
    expect(checks.map((c) => [c.name, c.status])).toEqual([
      ['canary send', 'fail'],
      ['canary', 'ok'],
    ]);
    expect(checks[0]?.fix).toMatch(/CanarySchedule rule \(every 6 h\)/);
  });

  it('warns before the first canary and before the first judged one; off and undeployed say so', async () => {
    expect(asList(await canaryCheck.run(run()))).toMatchObject([
      { status: 'warn', detail: 'no canary has run yet' },
    ]);
    canaryRecord({ messageId: '<c1@example.com>', trail: sent('c1', hoursAgo(1)) });
    expect(asList(await canaryCheck.run(run()))).toMatchObject([{ status: 'warn' }]);
    canaryRecord('{"not":"a record"}');
    expect(asList(await canaryCheck.run(run()))).toMatchObject([{ status: 'fail' }]);
    const off = exampleConfig({ health: { canary: { enabled: false } } });
    expect(asList(await canaryCheck.run(run({ config: off })))).toMatchObject([{ status: 'ok' }]);
    expect(asList(await canaryCheck.run(run({ outputs: undefined })))).toMatchObject([{ status: 'warn' }]);
  });
});

describe('doctor --target aws: alarms firing', () => {
  beforeEach(() => cloudwatch.reset());

  it('ok when none of the stack is in ALARM; fails naming each, across pages, asking only for ALARM', async () => {
    cloudwatch.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [], CompositeAlarms: [] });
    expect(await alarmsCheck.run(run())).toMatchObject({
      status: 'ok',
      detail: 'none of MailArchiver-* is in ALARM',
    });
    cloudwatch.reset();
    cloudwatch
      .on(DescribeAlarmsCommand)
      .resolvesOnce({ MetricAlarms: [{ AlarmName: 'MailArchiver-CanaryFailedAlarm' }], NextToken: 'p2' })
      .resolvesOnce({ MetricAlarms: [{ AlarmName: 'MailArchiver-IngestDeadLettersAlarm' }] });
    const check = asList(await alarmsCheck.run(run()))[0];
    expect(check).toMatchObject({
      status: 'fail',
      detail: 'in ALARM: MailArchiver-CanaryFailedAlarm, MailArchiver-IngestDeadLettersAlarm',
    });
    expect(check?.fix).toMatch(
      /docs\/operations\.md, "Alarms" \(CanaryFailedAlarm, IngestDeadLettersAlarm\)/,
    );
    const asked = cloudwatch.commandCalls(DescribeAlarmsCommand).map((c) => c.args[0].input);
    expect(asked[0]).toMatchObject({ AlarmNamePrefix: 'MailArchiver-', StateValue: 'ALARM' });
    expect(asked[1]).toMatchObject({ NextToken: 'p2' });
  });

  it('warns before the first deploy', async () => {
    expect(await alarmsCheck.run(run({ outputs: undefined }))).toMatchObject({ status: 'warn' });
  });
});
