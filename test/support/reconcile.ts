// A reconcile report with only the counts a test cares about (the rest empty), for the records built from it.
import type { ReconcileReport } from '../../shared/archive/reconcile';

export function reconcileReport(ok: boolean, notIndexed = 0): ReconcileReport {
  return {
    rawMessages: 0,
    indexRows: 0,
    ledgerEntries: 0,
    notIndexed: Array.from({ length: notIndexed }, (_, i) => `incoming/m${i}`),
    unreadableEnvelopes: [],
    unrecorded: [],
    rawMissing: [],
    notForwarded: [],
    forwardsUnsettled: [],
    notLogged: [],
    badLogLines: 0,
    ok,
  };
}
