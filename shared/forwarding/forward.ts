// Forwarding: one copy of every archived message to each of its mailbox's targets, exactly once. The decision
// not to forward (viruses, spam, DMARC rejects, loops, size) is recorded like a send; every send is claimed in a
// ledger with a conditional write first, so duplicate events, retries and concurrent workers cannot send twice.
import { type ArchiverConfig, forwardingFrom } from '../config';
import type { DeliveryIndex, ForwardLedger, MailSender, RawMailStore } from '../ports';
import { readObject } from '../raw-object';
import type { ForwardRequest } from './ledger';
import { contentBlocker, forwardBlocker, MAX_FORWARD_BYTES } from './policy';
import { asciiEnvelopeAddress, rewriteForForwarding } from './rewrite';

/** A send that failed; `permanent` ones are parked (ledger + dead-letter queue) instead of retried. */
export class SendError extends Error {
  override name = 'SendError';
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
  }
}

/** Thrown when a send failed transiently: the queue retries the request with backoff. */
export class RetryLater extends Error {
  override name = 'RetryLater';
}

export interface ForwardDeps {
  config: ArchiverConfig;
  index: DeliveryIndex & ForwardLedger;
  store: RawMailStore;
  sender: MailSender;
  now?: () => Date;
}

export interface ForwardOutcome {
  target: string;
  status: 'sent' | 'skipped' | 'already-handled' | 'failed';
  detail?: string;
  permanent?: boolean;
}

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

  const raw = await readObject(deps.store, row.raw);
  const looped = contentBlocker(raw);
  if (looped) return skipAll(looped);
  const from = forwardingFrom(deps.config);
  const rewritten = rewriteForForwarding({
    raw,
    fromAddress: from,
    envelopeRecipient: row.envelopeRecipients[0] ?? request.mailbox,
    trace: `${row.messageKey}; ${from.slice(from.indexOf('@') + 1)}`,
  });
  if (rewritten.raw.length > MAX_FORWARD_BYTES) {
    return skipAll(
      `too large to forward after rewriting (${rewritten.raw.length} bytes, SES takes ${MAX_FORWARD_BYTES})`,
    );
  }

  const outcomes: ForwardOutcome[] = [];
  for (const target of targets) {
    if (!(await deps.index.claimForward(entry(target), now(), options.redrive ?? false))) {
      outcomes.push({ target, status: 'already-handled' });
      continue;
    }
    try {
      const { messageId } = await deps.sender.send({
        from,
        to: asciiEnvelopeAddress(target),
        raw: rewritten.raw,
      });
      await deps.index.settleForward(entry(target), { state: 'sent', sesMessageId: messageId }, now());
      outcomes.push({ target, status: 'sent', detail: messageId });
    } catch (error) {
      const permanent = error instanceof SendError ? error.permanent : false;
      const message = (error as Error).message;
      await deps.index.settleForward(entry(target), { state: 'failed', error: message, permanent }, now());
      outcomes.push({ target, status: 'failed', detail: message, permanent });
    }
  }
  return outcomes;
}
