// `redrive --dry-run`: what a redrive would send again, found the way redrive finds it, without sending.
import type { ForwardLedger, ForwardState } from '../shared/forward';

export interface RedriveCandidate {
  mailbox: string;
  messageKey: string;
  target: string;
  state: ForwardState;
  /** Why it is waiting: the last error, or the lease a dead worker left. */
  detail?: string;
}

/**
 * Ledger entries a redrive sends again: failed ones, and those claimed by a worker whose lease ran out (it died
 * mid-send). Parked requests (a local dead-letter directory, the forward DLQ on AWS) are counted by the caller.
 */
export async function ledgerRedriveCandidates(
  ledger: Pick<ForwardLedger, 'listForwards'>,
  mailboxes: string[],
  now: Date,
): Promise<RedriveCandidate[]> {
  const at = now.toISOString();
  const out: RedriveCandidate[] = [];
  for (const mailbox of mailboxes) {
    for await (const entry of ledger.listForwards(mailbox)) {
      const stale = entry.state === 'sending' && (entry.leaseUntil ?? '') < at;
      if (entry.state !== 'failed' && !stale) continue;
      const detail = entry.state === 'failed' ? entry.error : `lease ran out at ${entry.leaseUntil}`;
      out.push({
        mailbox: entry.mailbox,
        messageKey: entry.messageKey,
        target: entry.target,
        state: entry.state,
        ...(detail ? { detail } : {}),
      });
    }
  }
  return out;
}
