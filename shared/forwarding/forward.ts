// Forwarding: one copy of every archived message to each of its mailbox's targets, exactly once. The decision
// not to forward (viruses, spam, DMARC rejects, loops, size) is recorded like a send; every send is claimed in a
// ledger with a conditional write first, so duplicate events, retries and concurrent workers cannot send twice.

import { readObject } from '../archive/raw-object';
import { type ArchiverConfig, forwardingFrom, forwardTargetOf } from '../config';
import { errorMessage, errorName } from '../errors';
import { addressDomain } from '../mail/address';
import type { DeliveryIndex, ForwardLedger, GmailImporter, MailSender, RawMailStore } from '../ports';
import { SendError } from './errors';
import type { ForwardRequest } from './ledger';
import { contentBlocker, forwardBlocker, MAX_FORWARD_BYTES } from './policy';
import { asciiEnvelopeAddress, rewriteForForwarding } from './rewrite';

export interface ForwardDeps {
  config: ArchiverConfig;
  index: DeliveryIndex & ForwardLedger;
  store: RawMailStore;
  sender: MailSender;
  /** Delivery for `via: "gmail-api"` targets; without it they fail (transiently) until it is configured. */
  gmail?: GmailImporter;
  now?: () => Date;
}

export interface ForwardOutcome {
  target: string;
  status: 'sent' | 'skipped' | 'already-handled' | 'failed';
  detail?: string;
  permanent?: boolean;
  /** Google refused the credential: someone must run `mail-archiver gmail-auth` (raises an alarm). */
  reauthorise?: boolean;
}

/**
 * Forwards one archived message to each target of its mailbox, exactly once per target: blocked messages
 * (policy.ts: sent mail, virus, spam, DMARC reject, loops, over 40 MB for SES) are recorded as skipped; every
 * send is claimed in the ledger first; an SES target gets the rewritten copy (rewrite.ts), a `gmail-api` target
 * the archived bytes unchanged. `options.redrive` also takes permanent failures and abandoned claims.
 *
 * Returns one outcome per target: sent (with SES's or Gmail's id), skipped (why), already-handled (another
 * delivery of the request claimed it), failed (`permanent` or not). A failed send does not throw: the forward
 * handler turns transient failures into RetryLaterError (SQS retries) and parks permanent ones. Throws when the
 * index row or the raw object cannot be read, or the ledger cannot be written.
 */
export async function forwardMessage(
  request: ForwardRequest,
  deps: ForwardDeps,
  options: { redrive?: boolean } = {},
): Promise<ForwardOutcome[]> {
  const now = deps.now ?? (() => new Date());
  const targets = deps.config.mailboxes[request.mailbox]?.forwardTo ?? [];
  if (targets.length === 0) return [];
  const row = await deps.index.getDelivery(request.mailbox, request.messageKey);
  if (!row) throw new Error(`no index row for ${request.messageKey} in ${request.mailbox}`);
  const entry = (target: string) => ({ mailbox: request.mailbox, messageKey: request.messageKey, target });

  const skipAll = async (reason: string) => {
    for (const target of targets) await deps.index.skipForward(entry(target), reason, now());
    return targets.map((target) => ({ target, status: 'skipped' as const, detail: reason }));
  };
  const blocked = forwardBlocker(row, deps.config);
  if (blocked) return skipAll(blocked);

  const raw = await readObject(deps.store, row.location);
  const looped = contentBlocker(raw);
  if (looped) return skipAll(looped);
  const from = forwardingFrom(deps.config);
  const viaSes = targets.filter((t) => forwardTargetOf(deps.config, request.mailbox, t).via === 'ses');
  // Only SES copies are rewritten; Gmail API imports carry the archived bytes unchanged.
  const rewritten =
    viaSes.length > 0
      ? await rewriteForForwarding({
          raw,
          fromAddress: from,
          envelopeRecipient: row.envelopeRecipients[0] ?? request.mailbox,
          trace: `${row.messageKey}; ${addressDomain(from)}`,
        })
      : undefined;
  const tooLarge =
    rewritten && rewritten.raw.length > MAX_FORWARD_BYTES
      ? `too large to forward after rewriting (${rewritten.raw.length} bytes, SES takes ${MAX_FORWARD_BYTES})`
      : undefined;

  const outcomes: ForwardOutcome[] = [];
  for (const target of targets) {
    const via = forwardTargetOf(deps.config, request.mailbox, target).via;
    if (via === 'ses' && tooLarge) {
      await deps.index.skipForward(entry(target), tooLarge, now());
      outcomes.push({ target, status: 'skipped', detail: tooLarge });
      continue;
    }
    if (!(await deps.index.claimForward(entry(target), now(), options.redrive ?? false))) {
      outcomes.push({ target, status: 'already-handled' });
      continue;
    }
    try {
      if (via === 'gmail-api') {
        if (!deps.gmail) throw new SendError('no Gmail API delivery is configured in this process', false);
        const { gmailMessageId } = await deps.gmail.importMessage({ user: target, raw });
        await deps.index.settleForward(entry(target), { state: 'sent', gmailMessageId }, now());
        outcomes.push({ target, status: 'sent', detail: `gmail ${gmailMessageId}` });
        continue;
      }
      const copy = rewritten as NonNullable<typeof rewritten>;
      const { messageId } = await deps.sender.send({
        from,
        to: asciiEnvelopeAddress(target),
        raw: copy.raw,
      });
      await deps.index.settleForward(
        entry(target),
        {
          state: 'sent',
          sesMessageId: messageId,
          ...(copy.changes && copy.changes.length > 0 ? { changes: copy.changes } : {}),
        },
        now(),
      );
      outcomes.push({ target, status: 'sent', detail: messageId });
    } catch (error) {
      const permanent = error instanceof SendError ? error.permanent : false;
      const message = errorMessage(error);
      await deps.index.settleForward(entry(target), { state: 'failed', error: message, permanent }, now());
      outcomes.push({
        target,
        status: 'failed',
        detail: message,
        permanent,
        ...(errorName(error) === 'GmailAuthError' ? { reauthorise: true } : {}),
      });
    }
  }
  return outcomes;
}
