// A message's recipients from its headers, when no envelope says them: the rule history import, `reindex` and
// the scheduled reconcile share (a raw object no notification announced has no envelope). Mail one of our
// mailboxes sent goes to that mailbox (its Sent folder); other mail to the To/Cc addresses that are configured
// mailboxes or the canary address (a canary whose notification was lost is still a canary: it expires), the
// journal address excepted. An address's domain may be written in either spelling of an internationalised domain
// (configuredMailbox, as routing reads an envelope).
import type { ArchiverConfig } from '../config';
import { canaryAddress } from '../health/config';
import { sameAddress } from '../mail/address';
import { type MessageHeaders, readMessageBytes } from '../mail/mime';
import { baseAddress, configuredMailbox, isJournalAddress, normaliseAddress } from './routing';

/** What a message's source said about it, where it had a say (a Sent folder or label). */
export interface SentHint {
  /** The source says the account sent it. */
  sent?: boolean;
}

/** The mailbox that sent a message (its From, plus-addressing folded), when it is one of ours. */
export function sendingMailbox(config: ArchiverConfig, headers: MessageHeaders): string | undefined {
  const from = headers.from[0]?.address;
  if (!from) return undefined;
  return configuredMailbox(config.mailboxes, baseAddress(from, config.plusAddressing));
}

/** Whether one of our mailboxes sent it: the From is a mailbox, and the source says sent or no To/Cc is one. */
export function isSentByMailbox(
  config: ArchiverConfig,
  placement: SentHint | undefined,
  headers: MessageHeaders,
): boolean {
  if (!sendingMailbox(config, headers)) return false;
  const isMailbox = (address: string) =>
    configuredMailbox(config.mailboxes, baseAddress(address, config.plusAddressing)) !== undefined;
  return placement?.sent === true || !headers.to.concat(headers.cc).some((a) => isMailbox(a.address));
}

/**
 * Who a message is for, by its headers: the sending mailbox for mail a mailbox sent; else the To/Cc addresses
 * (normalised) whose base address is a configured mailbox or (the canary on) the canary address, the journal
 * address excepted. May be empty.
 */
export function headerRecipients(
  config: ArchiverConfig,
  headers: MessageHeaders,
  placement?: SentHint,
): string[] {
  const sender = sendingMailbox(config, headers);
  if (sender && isSentByMailbox(config, placement, headers)) return [sender];
  const recipients = new Set<string>();
  for (const address of [...headers.to, ...headers.cc]) {
    const base = address.address ? baseAddress(address.address, config.plusAddressing) : '';
    const canary = config.health.canary.enabled && sameAddress(base, canaryAddress(config));
    if (
      base &&
      (configuredMailbox(config.mailboxes, base) !== undefined || canary) &&
      !isJournalAddress(config, address.address)
    ) {
      recipients.add(normaliseAddress(address.address));
    }
  }
  return [...recipients];
}

/** headerRecipients of a raw message (its header block parsed by the MIME summary). */
export async function rawMessageRecipients(config: ArchiverConfig, raw: Buffer): Promise<string[]> {
  return headerRecipients(config, (await readMessageBytes(raw)).headers);
}
