// The health checks of `doctor --target aws`: the canary's last round trip as the canary function recorded it
// (reports/canary.json in the raw-mail bucket: sent, then stored, then indexed, and where it broke), and the
// stack's alarms in ALARM now (CloudWatch DescribeAlarms, AlarmNamePrefix `<stack name>-`, StateValue ALARM).
// Both read only. SES's sandbox: a new account sends only to verified identities (Amazon SES Developer Guide,
// "Request production access"); the canary goes from and to an address of the archive's own domain, which the
// sandbox allows once the domain identity is verified, so a canary SES refused is explained here.
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { S3Client } from '@aws-sdk/client-s3';
import { S3RawMailStore } from '../../shared/adapters/s3-raw-store';
import type { ArchiverConfig } from '../../shared/config';
import { canaryStanding } from '../../shared/health/archive-activity';
import { canaryAddress } from '../../shared/health/config';
import { addressDomain } from '../../shared/mail/address';
import type { StackOutputs } from '../target/aws';
import { alarmsFiring } from '../target/health';
import { type Check, fail, type NamedCheck, ok, warn } from './check';

/** What the two checks read: the config, the stack's outputs, an S3 and a CloudWatch client, the time. */
export interface AwsHealthRun {
  deps: {
    config: ArchiverConfig;
    outputs: StackOutputs | undefined;
    s3: S3Client;
    cloudwatch: CloudWatchClient;
    now?: () => Date;
  };
}

const CANARY = 'canary';
/** The last canary sent (stale, or refused by SES), beside the last round trip judged. */
const CANARY_SEND = 'canary send';
const ALARMS = 'alarms';
const notDeployed = (name: string) =>
  warn(name, 'the stack is not deployed yet', 'run cdk deploy, then doctor again');

/**
 * What to do when SES refused to send the canary: the sandbox allows it (from and to the archive's own verified
 * domain), so the cause is the identity, a paused account, or a canary address on a domain SES does not know.
 */
export function canarySendFix(config: ArchiverConfig, reason: string): string {
  const address = canaryAddress(config);
  const domain = addressDomain(address);
  const sandbox =
    `in the SES sandbox SES sends only to verified identities; the canary goes from and to ${address}, which ` +
    `the sandbox allows once the domain identity ${domain} is verified (the "identity ${domain}" check above)`;
  if (/not verified/i.test(reason))
    return `${sandbox}: create the DkimRecord* CNAMEs of ${domain}, or set health.canary.address to an address on a verified domain`;
  if (/paused|disabled|suspend/i.test(reason))
    return 'SES sending is paused for this account: see the "sending" check and the SES console reputation dashboard';
  return `${sandbox}; otherwise see the canary function's log and the "sending" check`;
}

/** The canary's last round trip: ok on time, warn while none is judged yet, fail late, lost or not sent. */
export const canaryCheck: NamedCheck<AwsHealthRun> = {
  name: CANARY,
  async run({ deps }) {
    const { config, outputs } = deps;
    if (!config.health.canary.enabled) return ok(CANARY, 'off (health.canary.enabled is false)');
    const bucket = outputs?.RawMailBucketName;
    if (!bucket) return notDeployed(CANARY);
    const standing = await canaryStanding({ config, store: new S3RawMailStore(deps.s3), bucket });
    const every = config.health.canary.everyHours;
    const schedule = `the CanarySchedule rule (every ${every} h) and the canary function's log`;
    if (standing.state === 'never run')
      return warn(CANARY, 'no canary has run yet', `wait ${every} h after the deploy; then ${schedule}`);
    if (standing.state === 'unreadable')
      return fail(
        CANARY,
        `the canary record is unreadable: ${standing.reason}`,
        'the next canary run replaces it',
      );
    if (standing.state !== 'ok') return [];
    const now = (deps.now ?? (() => new Date()))();
    const sinceSent = (now.getTime() - Date.parse(standing.lastSentAt)) / 3_600_000;
    const checks: Check[] = [];
    if (sinceSent > 2 * every)
      checks.push(
        fail(
          CANARY_SEND,
          `no canary was sent since ${standing.lastSentAt} (${Math.floor(sinceSent)} h)`,
          schedule,
        ),
      );
    else if (standing.lastSendError)
      checks.push(
        fail(
          CANARY_SEND,
          `SES refused the last canary (${standing.lastSentAt}): ${standing.lastSendError}`,
          canarySendFix(config, standing.lastSendError),
        ),
      );
    const trip = standing.lastRoundTrip;
    if (!trip) {
      checks.push(
        warn(
          CANARY,
          `first canary sent ${standing.lastSentAt}, not judged yet`,
          `doctor again in ${every} h`,
        ),
      );
      return checks;
    }
    if (!trip.failed) {
      checks.push(ok(CANARY, trip.line));
      return checks;
    }
    const fix =
      trip.outcome === 'not-sent'
        ? canarySendFix(config, trip.line)
        : trip.outcome === 'late'
          ? "look at the ingest queue's age and ingest's duration (IngestQueueStuckAlarm); the CanaryFailedAlarm clears when a canary is on time"
          : 'follow the line: the checks above (mx, receipt rule set, identity) cover not stored; dead letters and redrive cover not indexed';
    checks.push(fail(CANARY, trip.line, fix));
    return checks;
  },
};

/** The stack's alarms in ALARM now: ok when none, fail naming them. */
export const alarmsCheck: NamedCheck<AwsHealthRun> = {
  name: ALARMS,
  async run({ deps }) {
    if (!deps.outputs) return notDeployed(ALARMS);
    const prefix = `${deps.config.stackName}-`;
    const firing = await alarmsFiring(deps.cloudwatch, prefix);
    if (firing.length === 0) return ok(ALARMS, `none of ${prefix}* is in ALARM`);
    const ids = firing.map((name) => name.slice(prefix.length));
    return fail(
      ALARMS,
      `in ALARM: ${firing.join(', ')}`,
      `see what ${ids.length === 1 ? 'it means' : 'each means'} and what to do in docs/operations.md, "Alarms" (${ids.join(', ')})`,
    );
  },
};
