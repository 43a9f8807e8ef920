// Forwarding: one copy of every archived message to each of its mailbox's targets, exactly once. The decision
// not to forward (viruses, spam, DMARC rejects, loops, size) is recorded like a send; every send is claimed in a
// ledger with a conditional write first, so duplicate events, retries and concurrent workers cannot send twice.
import { type ArchiverConfig, forwardingFrom, forwardTargetOf } from './config';
import {
  asciiEnvelopeAddress,
  FORWARD_TRACE_FIELD,
  rewriteForForwarding,
  splitHeaderBlock,
} from './forward-rewrite';
import type { GmailImporter } from './forwarding/gmail';
import type { DeliveryRow } from './index-schema';
import type { MailIndex, RawMailStore } from './ports';

/** SESv2 SendEmail accepts 40 MB of raw content. */
export const MAX_FORWARD_BYTES = 40 * 1024 * 1024;
export const MAX_RECEIVED_FIELDS = 25;

export interface ForwardRequest {
  mailbox: string;
  messageKey: string;
}

export type ForwardState = 'pending' | 'sending' | 'sent' | 'skipped' | 'failed' | 'bounced' | 'complained';

export interface ForwardEntry {
  mailbox: string;
  messageKey: string;
  target: string;
  state: ForwardState;
  attempts: number;
  updatedAt: string;
  /** Why it was not forwarded (skipped). */
  reason?: string;
  /** The last send error (failed); permanent ones are not retried until a redrive. */
  error?: string;
  permanent?: boolean;
  sesMessageId?: string;
  /** The id Gmail gave the imported copy (`via: "gmail-api"` targets). */
  gmailMessageId?: string;
  /** Anything the SES copy had to change beyond the rewrite proper (so that SES accepts it). */
  changes?: string[];
  sentAt?: string;
  /** A claim older than this is a worker that died mid-send: only a redrive may send again. */
  leaseUntil?: string;
  feedback?: string;
}

export interface ForwardLedger {
  /** Claims (mailbox, message, target) for sending; false when it is sent, skipped, being sent or parked. */
  claimForward(
    entry: Pick<ForwardEntry, 'mailbox' | 'messageKey' | 'target'>,
    now: Date,
    redrive: boolean,
  ): Promise<boolean>;
  settleForward(
    entry: Pick<ForwardEntry, 'mailbox' | 'messageKey' | 'target'>,
    result: SentResult | { state: 'failed'; error: string; permanent: boolean },
    now: Date,
  ): Promise<void>;
  /** Records a decision not to forward, unless something was already recorded. */
  skipForward(
    entry: Pick<ForwardEntry, 'mailbox' | 'messageKey' | 'target'>,
    reason: string,
    now: Date,
  ): Promise<void>;
  listForwards(mailbox: string, state?: ForwardState): AsyncIterable<ForwardEntry>;
  /** Bounce and complaint feedback, found by the id SES gave the sent copy. */
  recordForwardFeedback(
    sesMessageId: string,
    state: 'bounced' | 'complained',
    feedback: string,
    now: Date,
  ): Promise<boolean>;
}

/** A settled send: SES's message id, or Gmail's for an import; what else had to change, if anything. */
export type SentResult =
  | { state: 'sent'; sesMessageId: string; changes?: string[] }
  | { state: 'sent'; gmailMessageId: string };

export interface MailSender {
  send(input: { from: string; to: string; raw: Buffer }): Promise<{ messageId: string }>;
}

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
  index: MailIndex & ForwardLedger;
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

/** Why a message must not be forwarded, from what the index knows; undefined means go ahead. */
export function forwardBlocker(row: DeliveryRow, config: ArchiverConfig): string | undefined {
  if (row.folder === 'Sent') return 'sent mail (journal copy) is archived, never forwarded';
  if (row.verdicts.virus === 'FAIL') return 'virus verdict FAIL';
  if (row.verdicts.spam === 'FAIL' && !config.forwarding.forwardSpam)
    return 'spam verdict FAIL (kept in Junk)';
  if (
    row.verdicts.dmarc === 'FAIL' &&
    row.verdicts.dmarcPolicy === 'reject' &&
    !config.forwarding.forwardDmarcReject
  ) {
    return 'DMARC FAIL with policy reject';
  }
  return undefined;
}

/** Why these bytes must not be forwarded: a loop, or too large once rewritten. */
export function contentBlocker(raw: Buffer): string | undefined {
  const { fields } = splitHeaderBlock(raw);
  const trace = FORWARD_TRACE_FIELD.toLowerCase();
  if (fields.some((f) => f.name.toLowerCase() === trace))
    return `loop: the message already carries ${FORWARD_TRACE_FIELD}`;
  const received = fields.filter((f) => f.name.toLowerCase() === 'received').length;
  if (received > MAX_RECEIVED_FIELDS)
    return `loop: ${received} Received fields (more than ${MAX_RECEIVED_FIELDS})`;
  return undefined;
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

  const chunks: Uint8Array[] = [];
  for await (const chunk of await deps.store.read(row.raw)) chunks.push(chunk);
  const raw = Buffer.concat(chunks);
  const looped = contentBlocker(raw);
  if (looped) return skipAll(looped);
  const from = forwardingFrom(deps.config);
  const viaSes = targets.filter((t) => forwardTargetOf(deps.config, request.mailbox, t).via === 'ses');
  // Only SES copies are rewritten; Gmail API imports carry the archived bytes unchanged.
  const rewritten =
    viaSes.length > 0
      ? rewriteForForwarding({
          raw,
          fromAddress: from,
          envelopeRecipient: row.envelopeRecipients[0] ?? request.mailbox,
          trace: `${row.messageKey}; ${from.slice(from.indexOf('@') + 1)}`,
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
      const message = (error as Error).message;
      await deps.index.settleForward(entry(target), { state: 'failed', error: message, permanent }, now());
      outcomes.push({
        target,
        status: 'failed',
        detail: message,
        permanent,
        ...((error as Error).name === 'GmailAuthError' ? { reauthorise: true } : {}),
      });
    }
  }
  return outcomes;
}

/** Which archived deliveries need a forward request: mailboxes with targets, except sent mail. */
export function forwardRequestsFor(
  config: ArchiverConfig,
  messageKey: string,
  deliveries: { mailbox: string; folder: string }[],
): ForwardRequest[] {
  return deliveries
    .filter((d) => d.folder !== 'Sent' && (config.mailboxes[d.mailbox]?.forwardTo.length ?? 0) > 0)
    .map((d) => ({ mailbox: d.mailbox, messageKey }));
}
