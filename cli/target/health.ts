// The health view `status` and `doctor` show (healthView): when mail last arrived and the canary, and the failure
// paths: messages waiting in a dead-letter queue, parked forwards, raw objects not indexed, when reconcile last ran
// clean, the alarms firing. Locally from MAIL_ARCHIVER_HOME
// (dead-letters/, forward-dead-letters/, the last `reconcile` record); on AWS from the queues' counts and the
// scheduled reconcile's outcome in S3 (reports/reconcile.json), with the last CLI `reconcile` as a fallback.
import { join } from 'node:path';
import { CloudWatchClient, paginateDescribeAlarms } from '@aws-sdk/client-cloudwatch';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SqsDeadLetterQueue } from '../../shared/adapters/sqs-dead-letters';
import {
  describeRunKind,
  latestReconcileRun,
  type ReconcileRun,
  readStoredReconcileRun,
} from '../../shared/archive/reconcile-run';
import type { StackOutputName } from '../../shared/aws-names';
import type { ArchiverConfig } from '../../shared/config';
import { type ArchiveActivity, archiveActivity } from '../../shared/health/archive-activity';
import type { DeliveryIndex, IndexReads, RawMailStore } from '../../shared/ports';
import type { UnreadableFile } from '../local/dead-letters';
import { localIngestDeadLetters } from '../local/dead-letters';
import { ParkedForwards } from '../local/forwarding';
import { type StackOutputs, stackOutputs } from './aws';
import { DEAD_LETTER_QUEUES } from './dead-letter-queues';
import { readReconcileRecord } from './reconcile-record';

export interface ArchiveHealth {
  /** Messages stored but not indexed, waiting for `redrive` (ingest and notification dead letters). */
  ingestDeadLetters: number;
  /** Forwards parked after a permanent failure or exhausted retries. */
  parkedForwards: number;
  /**
   * Files in the local dead-letter folders that are not a dead letter (not JSON, not the right shape), with why:
   * counted nowhere else, and `redrive` leaves them (local only).
   */
  unreadableDeadLetters?: UnreadableFile[];
  /** Bounce/complaint events the feedback function could not record (AWS only). */
  feedbackDeadLetters?: number;
  /** Raw objects the last reconcile found not indexed (undefined when no reconcile is recorded). */
  notIndexed?: number;
  /** Messages the last lock sweep left with an unlocked version (undefined: no sweep recorded). */
  unlockedMessages?: number;
  lastReconcileAt?: string;
  lastReconcileOk?: boolean;
  lastCleanReconcileAt?: string;
  /** What the last reconcile was: a full walk or the changes since when, and what it read (reconcile-run.ts). */
  lastReconcileKind?: string;
  /** Messages waiting in each dead-letter queue, by the stack output naming it (AWS only; every queue listed). */
  deadLetterQueues?: Partial<Record<StackOutputName, number>>;
  /** The names of the stack's alarms that are in ALARM now (AWS only). */
  alarmsFiring?: string[];
  /**
   * When the newest message was received (canaries aside), ISO 8601 UTC, null when none was
   * (shared/health/archive-activity.ts); absent when not read.
   */
  lastReceivedAt?: ArchiveActivity['lastReceivedAt'];
  /** The canary: the last sent, the last round trip judged. */
  canary?: ArchiveActivity['canary'];
}

export function localHealth(home: string): ArchiveHealth {
  const last = readReconcileRecord(home, 'local');
  const ingest = localIngestDeadLetters(home);
  const forwards = new ParkedForwards(join(home, 'forward-dead-letters'));
  const unreadable = [...ingest.unreadable(), ...forwards.unreadable()];
  return {
    ingestDeadLetters: ingest.count(),
    parkedForwards: forwards.list().length,
    ...(unreadable.length > 0 ? { unreadableDeadLetters: unreadable } : {}),
    ...fromRecord(last),
  };
}

/** What the AWS side of the health view reads beside the bucket: the stack's outputs, SQS and CloudWatch. */
export interface AwsHealthSources {
  /** The deployed stack's outputs (the dead-letter queues' URLs); undefined before the first deploy. */
  outputs: StackOutputs | undefined;
  sqs: SQSClient;
  cloudwatch: CloudWatchClient;
}

/** Runs `fn` with the deployed stack's outputs and SQS and CloudWatch clients of the default chain. */
export async function withAwsHealthSources<T>(
  config: ArchiverConfig,
  fn: (sources: AwsHealthSources) => Promise<T>,
): Promise<T> {
  const outputs = await stackOutputs(config.stackName);
  const sqs = new SQSClient({});
  const cloudwatch = new CloudWatchClient({});
  try {
    return await fn({ outputs, sqs, cloudwatch });
  } finally {
    sqs.destroy();
    cloudwatch.destroy();
  }
}

/**
 * The last reconcile on AWS: the later of the scheduled reconcile's record (reports/reconcile.json) and this
 * machine's last `reconcile --target aws`. Throws what the store throws, JsonShapeError for a damaged record.
 */
export async function awsLastReconcile(
  archive: { store: RawMailStore; bucket: string },
  cliRecord: ReconcileRun | undefined,
): Promise<ReconcileRun | undefined> {
  return latestReconcileRun(await readStoredReconcileRun(archive.store, archive.bucket), cliRecord);
}

/**
 * The failure paths on AWS: every dead-letter queue of DEAD_LETTER_QUEUES (GetQueueAttributes), the last
 * reconcile, the stack's alarms in ALARM. Throws what the calls throw.
 */
export async function awsHealth(
  archive: { store: RawMailStore; bucket: string },
  home: string,
  config: ArchiverConfig,
  { outputs, sqs, cloudwatch }: AwsHealthSources,
): Promise<ArchiveHealth> {
  const latest = fromRecord(await awsLastReconcile(archive, readReconcileRecord(home, 'aws')));
  const counts = { ingestDeadLetters: 0, parkedForwards: 0, feedbackDeadLetters: 0 };
  const deadLetterQueues: Partial<Record<StackOutputName, number>> = {};
  for (const queue of DEAD_LETTER_QUEUES) {
    const url = outputs?.[queue.output];
    if (!url) continue;
    const { waiting, inFlight } = await new SqsDeadLetterQueue(sqs, url).count();
    counts[queue.counts] += waiting + inFlight;
    deadLetterQueues[queue.output] = waiting + inFlight;
  }
  return {
    ...counts,
    ...latest,
    deadLetterQueues,
    alarmsFiring: await alarmsFiring(cloudwatch, `${config.stackName}-`),
  };
}

/**
 * The health view `status` and `doctor` show, one definition for both commands and both targets: when mail was
 * last received and the canary (shared/health/archive-activity.ts), the last reconcile, the dead letters and
 * parked forwards (locally the folders under MAIL_ARCHIVER_HOME; on AWS every dead-letter queue), and on AWS the
 * alarms firing. `aws` absent: the local stack. Throws what the index, the store and the calls throw.
 */
export async function healthView(
  config: ArchiverConfig,
  archive: {
    store: RawMailStore;
    bucket: string;
    index: Pick<DeliveryIndex, 'mailboxes' | 'listDeliveries'>;
    /** Counts what the index read (`status --verbose`). */
    reads?: IndexReads;
  },
  home: string,
  aws?: AwsHealthSources,
): Promise<ArchiveHealth> {
  return {
    ...(aws ? await awsHealth(archive, home, config, aws) : localHealth(home)),
    ...(await archiveActivity({ config, ...archive })),
  };
}

/**
 * The names of the alarms named `<prefix>...` that are in ALARM (CloudWatch DescribeAlarms with AlarmNamePrefix
 * and StateValue; every alarm of the stack is named `<stack name>-<Id>`, cdk/constructs/operator-alarms.ts).
 */
export async function alarmsFiring(cloudwatch: CloudWatchClient, prefix: string): Promise<string[]> {
  const names: string[] = [];
  for await (const page of paginateDescribeAlarms(
    { client: cloudwatch },
    { AlarmNamePrefix: prefix, StateValue: 'ALARM', AlarmTypes: ['MetricAlarm', 'CompositeAlarm'] },
  )) {
    for (const alarm of [...(page.MetricAlarms ?? []), ...(page.CompositeAlarms ?? [])]) {
      if (alarm.AlarmName) names.push(alarm.AlarmName);
    }
  }
  return names.sort();
}

function fromRecord(last: ReconcileRun | undefined): Partial<ArchiveHealth> {
  if (!last) return {};
  return {
    notIndexed: last.notIndexed,
    ...(last.unlockedMessages !== undefined ? { unlockedMessages: last.unlockedMessages } : {}),
    lastReconcileAt: last.at,
    lastReconcileOk: last.ok,
    ...(last.lastCleanAt ? { lastCleanReconcileAt: last.lastCleanAt } : {}),
    lastReconcileKind: describeRunKind(last),
  };
}

/** The lines `status` prints. */
export function healthLines(health: ArchiveHealth): string[] {
  const reconcile = health.lastReconcileAt
    ? `${health.lastReconcileOk ? 'clean' : 'NOT clean'} at ${health.lastReconcileAt}${health.lastReconcileKind ? ` (${health.lastReconcileKind})` : ''}${health.lastReconcileOk ? '' : `, last clean ${health.lastCleanReconcileAt ?? 'never'}`}`
    : 'never run (mail-archiver reconcile)';
  return [
    `ingest dead letters: ${health.ingestDeadLetters}${health.ingestDeadLetters ? ' (mail-archiver redrive)' : ''}`,
    `parked forwards:     ${health.parkedForwards}${health.parkedForwards ? ' (mail-archiver forwards --state failed, then redrive)' : ''}`,
    ...(health.unreadableDeadLetters ?? []).map(
      (u) =>
        `unreadable dead letter: ${u.file}: ${u.reason} (redrive cannot use it: read it, then move it away)`,
    ),
    ...(health.feedbackDeadLetters !== undefined
      ? [`feedback dead letters: ${health.feedbackDeadLetters}`]
      : []),
    `not indexed:         ${health.notIndexed ?? 'unknown'}${health.notIndexed ? ' (mail-archiver reindex)' : ''} (as of the last reconcile)`,
    ...(health.unlockedMessages !== undefined
      ? [
          `unlocked messages:   ${health.unlockedMessages}${health.unlockedMessages ? ' (mail-archiver reconcile locks them; see docs/object-lock.md)' : ''} (as of the last reconcile)`,
        ]
      : []),
    `last reconcile:      ${reconcile}`,
    ...activityLines(health),
    ...(health.deadLetterQueues
      ? [
          `dead-letter queues:  ${
            Object.entries(health.deadLetterQueues)
              .map(([output, n]) => `${output.replace(/DeadLetterQueueUrl$/, '')} ${n}`)
              .join(', ') || 'none found (is the stack deployed?)'
          }`,
        ]
      : []),
    ...(health.alarmsFiring
      ? [
          `alarms firing:       ${health.alarmsFiring.length ? `${health.alarmsFiring.join(', ')} (docs/operations.md says what each means)` : 'none'}`,
        ]
      : []),
  ];
}

/** The last message received and the canary, as `status` prints them (absent when not read). */
function activityLines(health: ArchiveHealth): string[] {
  const lines: string[] = [];
  if (health.lastReceivedAt !== undefined) {
    lines.push(`last received:       ${health.lastReceivedAt ?? 'nothing yet'}`);
  }
  const { canary } = health;
  if (canary === undefined) return lines;
  const state = (() => {
    switch (canary.state) {
      case 'off':
        return 'off (health.canary.enabled is false)';
      case 'never run':
        return 'no canary sent yet';
      case 'unreadable':
        return `its record cannot be read (${canary.reason}); the next run replaces it`;
      case 'ok': {
        const trip = canary.lastRoundTrip;
        const last = `last sent ${canary.lastSentAt}${canary.lastSendError ? ` (refused: ${canary.lastSendError})` : ''}`;
        if (!trip) return `no round trip judged yet; ${last}`;
        if (trip.failed) return `FAILED: ${trip.line}; ${last}`;
        return `last round trip ${trip.outcome}${trip.latencySeconds !== undefined ? ` after ${trip.latencySeconds.toFixed(1)} s` : ''} (sent ${trip.sentAt}); ${last}`;
      }
    }
  })();
  lines.push(`canary:              ${state}`);
  return lines;
}
