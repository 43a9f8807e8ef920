// Forwarding policy: which archived messages get forwarded at all, and which bytes must not be (loops, size).
// The ledger records each of these decisions like a send.
import type { ArchiverConfig } from '../config';
import type { DeliveryRow } from '../index/schema';
import { splitHeaderBlock } from '../mail/header-block';
import type { ForwardRequest } from './ledger';
import { FORWARD_TRACE_FIELD } from './rewrite';

/** SESv2 SendEmail accepts 40 MB of raw content. */
export const MAX_FORWARD_BYTES = 40 * 1024 * 1024;
/** More Received fields than this is taken for a loop. */
export const MAX_RECEIVED_FIELDS = 25;

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
