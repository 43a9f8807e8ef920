// What `status` shows of the archive's activity, the same on AWS and locally: when the last message was received
// (any mailbox but the canary's), and the canary as its record (reports/canary.json) shows it: the last canary
// sent, and the verdict on the round trip before it.
import type { ArchiverConfig } from '../config';
import { errorMessage } from '../errors';
import type { DeliveryIndex, IndexReads, RawMailStore } from '../ports';
import { canaryAlarms, describeCanary } from './canary';
import { readCanaryRecord } from './canary-run';
import { canaryAddress } from './config';

/** The canary as `status` shows it. */
export type CanaryStanding =
  | { state: 'off' }
  | { state: 'never run' }
  | { state: 'unreadable'; reason: string }
  | {
      state: 'ok';
      /** When the last canary was sent (ISO 8601 UTC). */
      lastSentAt: string;
      /** Why SES (or the local listener) refused the last canary, when it did. */
      lastSendError?: string;
      /** The last round trip judged: the canary before the last one. */
      lastRoundTrip?: {
        sentAt: string;
        outcome: string;
        /** Sent to indexed, in seconds (on time or late). */
        latencySeconds?: number;
        /** Whether the verdict alarms (CanaryFailedAlarm on AWS). */
        failed: boolean;
        /** One line: what the verdict means and where to look. */
        line: string;
      };
    };

export interface ArchiveActivity {
  /** When the newest message of any mailbox but the canary's was received (ISO 8601 UTC); null: none yet. */
  lastReceivedAt: string | null;
  canary: CanaryStanding;
}

/**
 * Reads the activity: the newest row of each mailbox (one query each, newest first, limit 1) and the canary
 * record; `reads` counts what was read from the index. Throws what the index or the store throw; a damaged canary
 * record is reported, not thrown.
 */
export async function archiveActivity(deps: {
  config: ArchiverConfig;
  store: RawMailStore;
  bucket: string;
  index: Pick<DeliveryIndex, 'mailboxes' | 'listDeliveries'>;
  reads?: IndexReads;
}): Promise<ArchiveActivity> {
  const { config } = deps;
  const enabled = config.health.canary.enabled;
  const canaryMailbox = enabled ? canaryAddress(config) : undefined;
  let lastReceivedAt: string | null = null;
  const { reads } = deps;
  for (const mailbox of await deps.index.mailboxes(reads)) {
    if (mailbox === canaryMailbox) continue;
    for await (const row of deps.index.listDeliveries(mailbox, { limit: 1, ...(reads ? { reads } : {}) })) {
      if (lastReceivedAt === null || row.receivedAt > lastReceivedAt) lastReceivedAt = row.receivedAt;
    }
  }
  return { lastReceivedAt, canary: enabled ? await canaryStanding(deps) : { state: 'off' } };
}

/**
 * The canary as its record shows it: off, never run, unreadable (a damaged record, reported, not thrown), or the
 * last canary sent and the round trip judged before it. Throws what the store throws.
 */
export async function canaryStanding(deps: {
  config: ArchiverConfig;
  store: RawMailStore;
  bucket: string;
}): Promise<CanaryStanding> {
  let record: Awaited<ReturnType<typeof readCanaryRecord>>;
  try {
    record = await readCanaryRecord(deps.store, deps.bucket);
  } catch (error) {
    return { state: 'unreadable', reason: errorMessage(error) };
  }
  if (!record) return { state: 'never run' };
  const window = { windowSeconds: deps.config.health.canary.windowMinutes * 60 };
  const previous = record.previous;
  return {
    state: 'ok',
    lastSentAt: record.trail.sentAt,
    ...(record.trail.sendError ? { lastSendError: record.trail.sendError } : {}),
    ...(previous
      ? {
          lastRoundTrip: {
            sentAt: previous.trail.sentAt,
            outcome: previous.verdict.outcome,
            ...('latencySeconds' in previous.verdict
              ? { latencySeconds: previous.verdict.latencySeconds }
              : {}),
            failed: canaryAlarms(previous.verdict),
            line: describeCanary(previous.trail, previous.verdict, window),
          },
        }
      : {}),
  };
}
