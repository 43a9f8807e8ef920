// The forwarding ledger's rules: one entry per (mailbox, message, target), claimed with a conditional write
// before every send, so that duplicate events, retries and concurrent workers cannot send a copy twice.
// Hand-written on purpose: Powertools' idempotency utility records one outcome per event, while a message
// here fans out to several targets, each with its own state, lease and later bounce feedback; the rules
// below are what both index adapters implement and what `reconcile` and `redrive` read.

import { z } from 'zod';
import { parseJsonAs } from '../json';

/** A message of a mailbox to forward to each of the mailbox's targets: what the forward queue carries. */
export interface ForwardRequest {
  mailbox: string;
  messageKey: string;
}

/** A forward queue message's body: a ForwardRequest, as ingest and `redrive` write it. */
export const forwardRequestSchema = z.object({
  mailbox: z.string().min(3),
  messageKey: z.string().min(10),
  /** Set by `mail-archiver redrive`: may also resend permanent failures and claims of dead workers. */
  redrive: z.boolean().optional(),
});

/** A forward queue message's body read back; `where` names it. Throws JsonShapeError when it is not one. */
export function parseForwardRequest(body: string, where: string): z.output<typeof forwardRequestSchema> {
  return parseJsonAs(forwardRequestSchema, body, where);
}

export type ForwardState = 'pending' | 'sending' | 'sent' | 'skipped' | 'failed' | 'bounced' | 'complained';

/** The row the ledger keeps per (mailbox, message, target). Times are ISO 8601 UTC. */
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

/** A settled send: SES's message id, or Gmail's for an import; what else had to change, if anything. */
export type SentResult =
  | { state: 'sent'; sesMessageId: string; changes?: string[] }
  | { state: 'sent'; gmailMessageId: string };

/** How a send ended, as the ledger records it. */
export type SendResult = SentResult | { state: 'failed'; error: string; permanent: boolean };

/** What identifies a ledger entry. */
export type ForwardEntryKey = Pick<ForwardEntry, 'mailbox' | 'messageKey' | 'target'>;

/** A claim on a send lasts this long; a worker that dies mid-send leaves it for a redrive to decide. */
export const SEND_LEASE_MS = 5 * 60 * 1000;

/** When a claim made at `now` runs out (ISO 8601 UTC). */
export function leaseUntil(now: Date): string {
  return new Date(now.getTime() + SEND_LEASE_MS).toISOString();
}

/** A claim whose worker died: its lease ran out before it settled. */
export function isAbandonedClaim(entry: Pick<ForwardEntry, 'state' | 'leaseUntil'>, now: Date): boolean {
  return entry.state === 'sending' && (entry.leaseUntil ?? '') < now.toISOString();
}

/** What a redrive takes over: failures (permanent ones too) and abandoned claims. */
export function isRedrivable(entry: Pick<ForwardEntry, 'state' | 'leaseUntil'>, now: Date): boolean {
  return entry.state === 'failed' || isAbandonedClaim(entry, now);
}

/**
 * May a send be claimed over what the ledger holds? Normal delivery takes only what never started or failed
 * transiently; a redrive also takes permanent failures and abandoned claims. The DynamoDB adapter states the
 * same rule as a condition expression; the index contract tests hold the two together.
 */
export function isClaimable(
  existing: Pick<ForwardEntry, 'state' | 'leaseUntil' | 'permanent'> | undefined,
  now: Date,
  redrive: boolean,
): boolean {
  if (!existing || existing.state === 'pending') return true;
  if (existing.state === 'failed') return redrive || !existing.permanent;
  return redrive && isAbandonedClaim(existing, now);
}
