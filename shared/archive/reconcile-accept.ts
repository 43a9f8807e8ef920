// `reconcile --accept-unforwarded`: the operator's decision about forwards an index loss left unknowable.
import type { ReconcileDeps } from './reconcile-walk';

/** A finding of reconcile: a row that should have been forwarded to `target` and has no ledger entry for it. */
type NotForwarded = { mailbox: string; messageKey: string; target: string };

/** What `reconcile --accept-unforwarded` records in the ledger for each entry it accepts. */
export const ACCEPTED_UNFORWARDED_REASON =
  'accepted by "reconcile --accept-unforwarded": no ledger entry, so whether it was forwarded is unknown';

/**
 * After an index loss the forwarding ledger, which lived in the lost table, is gone: every message reindexed
 * since has no ledger entry, so `reconcile` reports it "never forwarded" although most were. Nothing in the
 * archive can tell which; the operator decides. This records each of `entries` as skipped (so it is neither
 * forwarded again nor reported again); an entry that exists by now is left as it is. Returns how many it wrote.
 */
export async function acceptUnforwarded(
  deps: Pick<ReconcileDeps, 'index' | 'now'>,
  entries: readonly NotForwarded[],
): Promise<number> {
  const now = (deps.now ?? (() => new Date()))();
  for (const entry of entries) await deps.index.skipForward(entry, ACCEPTED_UNFORWARDED_REASON, now);
  return entries.length;
}
