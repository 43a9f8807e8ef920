// Redrive: which forward requests `mail-archiver redrive` sends again, on AWS and locally alike. Besides the
// parked requests (the dead-letter queue, or its local directory), the ledger's failures and the claims of
// workers that died mid-send (shared/forwarding/ledger.ts says which).
import type { ForwardLedger } from '../ports';
import { type ForwardRequest, isRedrivable } from './ledger';

/** The identity of a request: one message of one mailbox (all its targets). */
export const requestKey = (request: ForwardRequest): string => `${request.mailbox} ${request.messageKey}`;

/** Requests once each, in first-seen order, reduced to their mailbox and message key. */
export function uniqueRequests(requests: Iterable<ForwardRequest>): ForwardRequest[] {
  const unique = new Map<string, ForwardRequest>();
  for (const { mailbox, messageKey } of requests) {
    const key = requestKey({ mailbox, messageKey });
    if (!unique.has(key)) unique.set(key, { mailbox, messageKey });
  }
  return [...unique.values()];
}

/**
 * The requests the ledgers of `mailboxes` hold for a redrive at `now` (failed entries, abandoned claims), once
 * per message, leaving out those in `except` (requests already taken from the parking place).
 */
export async function ledgerRedrives(
  ledger: Pick<ForwardLedger, 'listForwards'>,
  mailboxes: Iterable<string>,
  now: Date,
  except: Iterable<ForwardRequest> = [],
): Promise<ForwardRequest[]> {
  const known = new Set([...except].map(requestKey));
  const found: ForwardRequest[] = [];
  for (const mailbox of mailboxes) {
    for await (const entry of ledger.listForwards(mailbox)) {
      if (isRedrivable(entry, now) && !known.has(requestKey(entry))) found.push(entry);
    }
  }
  return uniqueRequests(found);
}
