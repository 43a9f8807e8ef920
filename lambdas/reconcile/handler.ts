// Scheduled (EventBridge) reconcile: compares the raw store, the index and the forwarding ledger, and reindexes
// what it finds missing (a notification SES could not publish or SNS could not deliver leaves the raw object in
// incoming/ with nothing else to index it; a message whose ingest failed for good has its envelope sidecar).
// The outcome is kept in S3 (reports/reconcile.json) for `status` and `doctor`; a run that leaves anything
// unresolved fails, which the function's error alarm reports.
import type { Logger } from '@aws-lambda-powertools/logger';
import { readObject } from '../../shared/archive/raw-object';
import { type ReconcileReport, type ReindexReport, reconcile, reindex } from '../../shared/archive/reconcile';
import type { ArchiverConfig } from '../../shared/config';
import type { DeliveryLog } from '../../shared/delivery-log/log';
import { RECONCILE_REPORT_KEY, type ReconcileRun } from '../../shared/index/schema';
import type { ForwardLedger, ForwardQueue, MailIndex, RawMailStore } from '../../shared/ports';
import { rawMessageRecipients } from '../../shared/receiving/header-recipients';

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
}

/** The scheduled reconcile left differences it could not repair; `report` lists them. */
export class ReconcileFindingsError extends Error {
  override name = 'ReconcileFindingsError';
}

export function createReconcileHandler(deps: ReconcileHandlerDeps) {
  const now = deps.now ?? (() => new Date());
  return async (): Promise<ReconcileRun> => {
    const base = {
      config: deps.config,
      store: deps.store,
      index: deps.index,
      bucket: deps.bucket,
      now,
      ...(deps.deliveryLog ? { deliveryLog: deps.deliveryLog } : {}),
    };
    let report: ReconcileReport = await reconcile(base);
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
      report = await reconcile(base);
    }
    const location = { bucket: deps.bucket, key: RECONCILE_REPORT_KEY };
    const previous = (await deps.store.exists(location))
      ? (JSON.parse((await readObject(deps.store, location)).toString('utf8')) as ReconcileRun)
      : undefined;
    const at = now().toISOString();
    const run: ReconcileRun = {
      at,
      ok: report.ok,
      ...((report.ok ? at : previous?.lastCleanAt)
        ? { lastCleanAt: report.ok ? at : previous?.lastCleanAt }
        : {}),
      rawMessages: report.rawMessages,
      notIndexed: report.notIndexed.length,
      unrecorded: report.unrecorded.length,
      unreadableEnvelopes: report.unreadableEnvelopes.length,
      rawMissing: report.rawMissing.length,
      notForwarded: report.notForwarded.length,
      forwardsUnsettled: report.forwardsUnsettled.length,
      notLogged: report.notLogged.length,
      ...(reindexed ? { reindexed: reindexed.restored, reindexFailed: reindexed.failed.length } : {}),
    };
    await deps.store.write(location, Buffer.from(JSON.stringify(run)));
    deps.logger.info('reconcile', { ...run });
    if (!report.ok) {
      throw new ReconcileFindingsError(
        `reconcile found differences it could not repair: ${JSON.stringify({
          notIndexed: report.notIndexed.slice(0, 20),
          unreadableEnvelopes: report.unreadableEnvelopes.slice(0, 20),
          unrecorded: report.unrecorded.slice(0, 20),
          rawMissing: report.rawMissing.slice(0, 20),
          notForwarded: report.notForwarded.slice(0, 20),
          forwardsUnsettled: report.forwardsUnsettled.slice(0, 20),
          notLogged: report.notLogged.slice(0, 20),
          reindexFailed: reindexed?.failed.slice(0, 20),
        })}`,
      );
    }
    return run;
  };
}
