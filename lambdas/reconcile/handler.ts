// Scheduled (EventBridge) reconcile: compares the raw store, the index, the forwarding ledger and the delivery
// log, and reindexes what it finds missing (a notification SES could not publish or SNS could not deliver leaves
// the raw object in incoming/ with nothing else to index it; a message whose ingest failed for good has its
// envelope sidecar). The outcome is kept in S3 (reports/reconcile.json) for `status` and `doctor`; a run that
// leaves anything unresolved fails, which the function's error alarm reports.
//
// A run can outlive one invocation: the schedule ticks often (cdk/constructs/scheduled-reconcile.ts), and each
// tick either goes on with the run in progress (reports/reconcile-progress.json) until its time is nearly up, or
// starts a new run once the last one is `every` old, or does nothing. The progress names the invocation holding
// it until when (a lease), so a tick that comes while another invocation works leaves it alone: two invocations
// never compare at once.
//
// A new run walks the whole archive, or only what changed since the last run that ended clean
// (shared/archive/reconcile-scope.ts decides which, and says why that is enough); the record and the log line
// name which and how much it read.
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { readObject } from '../../shared/archive/raw-object';
import {
  continueReconcile,
  type ReconcileProgress,
  type ReindexReport,
  reindex,
  startReconcile,
} from '../../shared/archive/reconcile';
import {
  describeRunKind,
  type ReconcileRun,
  readStoredReconcileRun,
  reconcileRunOf,
} from '../../shared/archive/reconcile-run';
import {
  CUT_OFF_MARGIN_MS,
  DEFAULT_FULL_EVERY_MS,
  reconcileScope,
} from '../../shared/archive/reconcile-scope';
import { comparisonConfigPrint } from '../../shared/archive/reconcile-walk';
import type { ArchiverConfig } from '../../shared/config';
import type { DeliveryLog } from '../../shared/delivery-log/log';
import { errorMessage } from '../../shared/errors';
import { RECONCILE_PROGRESS_KEY, RECONCILE_REPORT_KEY } from '../../shared/index/schema';
import { JsonShapeError } from '../../shared/json';
import { SCHEDULED_RUN_SUCCEEDED_METRIC, UNLOCKED_MESSAGES_METRIC } from '../../shared/metrics';
import type { ForwardLedger, ForwardQueue, MailIndex, RawMailStore } from '../../shared/ports';
import { rawMessageRecipients } from '../../shared/receiving/header-recipients';
import type { ArchiveLocker } from '../../shared/retention/lock-policy';
import { type SweepReport, sweepUnlocked } from '../../shared/retention/sweep';

export interface ReconcileHandlerDeps {
  config: ArchiverConfig;
  store: RawMailStore;
  index: MailIndex & ForwardLedger;
  bucket: string;
  forwards: ForwardQueue;
  /** The delivery log: rows it does not record are reported, and logged by the reindex that follows. */
  deliveryLog?: DeliveryLog;
  logger: Pick<Logger, 'info' | 'warn'>;
  now?: () => Date;
  /**
   * How long after a run started the next one starts, in milliseconds (ticks in between only go on with a run
   * that has not finished). @default 0: every tick that finds no run in progress starts one
   */
  everyMs?: number;
  /**
   * How long after the last full walk started a new run walks the whole archive again, in milliseconds (runs in
   * between compare what changed since the last clean run). @default DEFAULT_FULL_EVERY_MS (7 days)
   */
  fullEveryMs?: number;
  /** How far before the last clean run's start a run since a cut-off begins. @default CUT_OFF_MARGIN_MS (24 hours) */
  marginMs?: number;
  /** More sidecars written since the cut-off make a run a full walk. @default MAX_CHANGED_SINCE (20,000) */
  changedLimit?: number;
  /**
   * What an invocation leaves for writing its progress and report, in milliseconds: it stops comparing this long
   * before its timeout. @default 60 seconds
   */
  reserveMs?: number;
  /** The lock step for what reindex reads, and the sweep's locks (shared/retention). */
  locker?: ArchiveLocker;
  /** Where the sweep's count of unlocked messages and the heartbeat of a run that ended clean are published. */
  metrics?: Pick<Metrics, 'addMetric' | 'publishStoredMetrics'>;
}

/** What the handler reads of the Lambda context: how long the invocation has left. */
export interface InvocationClock {
  getRemainingTimeInMillis(): number;
  awsRequestId?: string;
}

/** The scheduled reconcile left differences it could not repair; `report` lists them. */
export class ReconcileFindingsError extends Error {
  override name = 'ReconcileFindingsError';
}

/** The run in progress, as kept between invocations. */
interface HeldProgress {
  progress: ReconcileProgress;
  /** The invocation holding the run, and until when (epoch milliseconds); expired: any tick may take it. */
  heldBy?: string;
  heldUntil?: number;
}

/** What a tick that compared nothing returns: why. */
export interface ReconcileTickSkipped {
  skipped: 'not due' | 'held by another invocation';
}

/** What a tick that compared but did not finish returns. */
export interface ReconcileTickContinuing {
  continuing: { phase: ReconcileProgress['phase']; steps: number; startedAt: string; since?: string };
}

export function createReconcileHandler(deps: ReconcileHandlerDeps) {
  const now = deps.now ?? (() => new Date());
  const progressAt = { bucket: deps.bucket, key: RECONCILE_PROGRESS_KEY };
  const reportAt = { bucket: deps.bucket, key: RECONCILE_REPORT_KEY };
  const readJson = async <T>(location: typeof progressAt): Promise<T | undefined> =>
    (await deps.store.exists(location))
      ? (JSON.parse((await readObject(deps.store, location)).toString('utf8')) as T)
      : undefined;
  const writeJson = (location: typeof progressAt, value: unknown) =>
    deps.store.write(location, Buffer.from(JSON.stringify(value)), { contentType: 'application/json' });

  return async (
    _event?: unknown,
    context?: InvocationClock,
  ): Promise<ReconcileRun | ReconcileTickSkipped | ReconcileTickContinuing> => {
    const base = {
      config: deps.config,
      store: deps.store,
      index: deps.index,
      bucket: deps.bucket,
      now,
      ...(deps.locker ? { locker: deps.locker } : {}),
      ...(deps.deliveryLog ? { deliveryLog: deps.deliveryLog } : {}),
      ...(deps.changedLimit !== undefined ? { changedLimit: deps.changedLimit } : {}),
    };
    const started = Date.now();
    // Without a context (a test, a direct call) the run goes to its end in this call.
    const deadline = context
      ? started + context.getRemainingTimeInMillis() - (deps.reserveMs ?? 60_000)
      : undefined;
    const me = context?.awsRequestId ?? `local-${started}`;
    const held = await readJson<HeldProgress>(progressAt);
    if (held && held.heldBy !== me && (held.heldUntil ?? 0) > started) {
      return { skipped: 'held by another invocation' };
    }
    // A damaged record (written by hand, cut short) is replaced by this run's: it only loses when the archive was
    // last clean, and where the last sweep left everything locked (this one then examines every version).
    const previous = await readStoredReconcileRun(deps.store, deps.bucket).catch((error: unknown) => {
      if (!(error instanceof JsonShapeError)) throw error;
      deps.logger.warn('reconcile record unreadable, replaced', { reason: errorMessage(error) });
      return undefined;
    });
    if (!held && previous && deps.everyMs) {
      const lastStart = Date.parse(previous.startedAt ?? previous.at);
      if (now().getTime() - lastStart < deps.everyMs) return { skipped: 'not due' };
    }
    let progress = held?.progress;
    if (!progress) {
      const scope = reconcileScope(
        previous,
        now(),
        comparisonConfigPrint(deps.config),
        deps.fullEveryMs ?? DEFAULT_FULL_EVERY_MS,
        deps.marginMs ?? CUT_OFF_MARGIN_MS,
      );
      progress = await startReconcile(base, scope);
      deps.logger.info('reconcile starts', {
        kind: scope.since ? `changes since ${scope.since}` : 'full walk',
        why: scope.reason,
      });
    }
    const hold: HeldProgress = {
      progress,
      heldBy: me,
      heldUntil: (deadline ?? started + 15 * 60_000) + (deps.reserveMs ?? 60_000),
    };
    await writeJson(progressAt, hold);
    progress = await continueReconcile(base, progress, deadline === undefined ? {} : { deadline });
    if (progress.phase !== 'done') {
      // Released: the next tick goes on from here.
      await writeJson(progressAt, { progress } satisfies HeldProgress);
      const since = progress.since !== undefined ? { since: progress.since } : {};
      deps.logger.info('reconcile continues', { phase: progress.phase, steps: progress.steps, ...since });
      return {
        continuing: { phase: progress.phase, steps: progress.steps, startedAt: progress.startedAt, ...since },
      };
    }
    const report = progress.report;
    let reindexed: ReindexReport | undefined;
    if (
      report.notIndexed.length > 0 ||
      report.unrecorded.length > 0 ||
      report.unreadableEnvelopes.length > 0 ||
      report.notLogged.length > 0
    ) {
      // A message no notification announced has no sidecar: its recipients come from its headers, as the CLI's
      // `reindex` takes them (configured mailboxes among To/Cc; the journal for mail a mailbox sent).
      reindexed = await reindex({ ...base, forwards: deps.forwards }, (raw) =>
        rawMessageRecipients(deps.config, raw),
      );
    }
    // Versions a failed lock step left unlocked are locked now; the count of messages still unlocked is alarmed.
    let sweep: SweepReport | undefined;
    if (deps.locker) {
      sweep = await sweepUnlocked({
        locker: deps.locker,
        bucket: deps.bucket,
        now,
        ...(previous?.lockedThrough ? { since: previous.lockedThrough } : {}),
      });
      deps.metrics?.addMetric(UNLOCKED_MESSAGES_METRIC, MetricUnit.Count, sweep.unlockedMessages);
      deps.metrics?.publishStoredMetrics();
    }
    const run = reconcileRunOf(progress.report, now(), previous, reindexed, sweep, {
      startedAt: progress.startedAt,
      steps: progress.steps,
    });
    await writeJson(reportAt, run);
    await deps.store.write(progressAt, Buffer.from('null'), { contentType: 'application/json' });
    deps.logger.info('reconcile', { kind: describeRunKind(run), ...run });
    if (!run.ok) {
      throw new ReconcileFindingsError(
        `reconcile found differences it could not repair: ${JSON.stringify({
          rawMissing: report.rawMissing.slice(0, 20),
          notForwarded: report.notForwarded.slice(0, 20),
          forwardsUnsettled: report.forwardsUnsettled.slice(0, 20),
          reindexFailed: reindexed?.failed.slice(0, 20),
          ...(reindexed
            ? {}
            : {
                notIndexed: report.notIndexed.slice(0, 20),
                unreadableEnvelopes: report.unreadableEnvelopes.slice(0, 20),
                unrecorded: report.unrecorded.slice(0, 20),
                notLogged: report.notLogged.slice(0, 20),
              }),
        })}`,
      );
    }
    // The heartbeat: a run ended clean; its absence for twice the schedule's period alarms.
    deps.metrics?.addMetric(SCHEDULED_RUN_SUCCEEDED_METRIC, MetricUnit.Count, 1);
    deps.metrics?.publishStoredMetrics();
    return run;
  };
}
