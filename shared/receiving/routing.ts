// Which mailboxes and folders a message belongs to, decided from the SES envelope (never from To/Cc: Bcc
// recipients exist only in the envelope) and SES's verdicts. An envelope recipient's domain may be spelled as the
// config spells it or in its other spelling (U-label or A-label: SES hands the envelope as the SMTP session had
// it); both reach the configured mailbox, whose name stays the configured address (shared/mail/address.ts).
import { type ArchiverConfig, receivingDomains } from '../config';
import { canaryAddress } from '../health/config';
import { domainKey, sameAddress, splitAddress } from '../mail/address';

export type Verdict = 'PASS' | 'FAIL' | 'GRAY' | 'PROCESSING_FAILED' | 'DISABLED';

export interface Verdicts {
  spam: Verdict;
  virus: Verdict;
  spf: Verdict;
  dkim: Verdict;
  dmarc: Verdict;
  /** Only present when DMARC failed: what the sender's domain asks receivers to do. */
  dmarcPolicy?: 'none' | 'quarantine' | 'reject';
}

/** The folders routing files into: every mailbox can hold them, whether or not mail has arrived in them yet. */
export const ROUTED_FOLDERS = ['INBOX', 'Sent', 'Junk'] as const;
/** The folders routing files into, and any folder a history import brings (`Drafts`, `Trash`, `A/B`). */
export type Folder = (typeof ROUTED_FOLDERS)[number] | (string & {});
export type Flag = '\\Seen' | '\\Answered' | '\\Flagged' | '\\Draft' | '\\Deleted' | '$Forwarded';

export interface Delivery {
  mailbox: string;
  folder: Folder;
  flags: Flag[];
  /** The envelope recipients that led to this delivery (lower case). */
  envelopeRecipients: string[];
}

export interface RejectedRecipient {
  recipient: string;
  reason: string;
}

export interface Routing {
  deliveries: Delivery[];
  rejected: RejectedRecipient[];
}

/** Holds messages that reached no mailbox (e.g. a journal copy from a sender we do not archive). */
export const UNROUTED_MAILBOX = 'unrouted';

export function normaliseAddress(address: string): string {
  return address
    .trim()
    .replace(/^<(.*)>$/, '$1')
    .toLowerCase();
}

/** `alice+news@example.com` -> `alice@example.com` when plus-addressing is on. */
export function baseAddress(address: string, plusAddressing: boolean): string {
  const normalised = normaliseAddress(address);
  if (!plusAddressing) return normalised;
  const { local, domain } = splitAddress(normalised);
  const plus = local.indexOf('+');
  return plus > 0 ? `${local.slice(0, plus)}@${domain}` : normalised;
}

/**
 * The configured mailbox `address` (normalised) is, in the spelling the config gives it (the mailbox's name in the
 * index), or undefined when it is none: its domain may be written in either spelling.
 */
export function configuredMailbox(mailboxes: Record<string, unknown>, address: string): string | undefined {
  if (Object.hasOwn(mailboxes, address)) return address;
  return Object.keys(mailboxes).find((mailbox) => sameAddress(mailbox, address));
}

/** What routing reads of the config. */
export type RoutingConfig = Pick<
  ArchiverConfig,
  'mailboxes' | 'plusAddressing' | 'unknownRecipients' | 'domains' | 'journalAddress' | 'health'
>;

/** A mailbox, or why there is none: `notReceiving` when the address's domain is not one the archive receives for. */
export type RecipientResolution = { mailbox: string } | { rejected: string; notReceiving?: true };

/**
 * Resolves one envelope recipient (not the journal address) to a mailbox, or says why it has none. The canary
 * address (when the canary is on) is a mailbox of its own: no config entry, so never forwarded, and no user's.
 */
export function resolveRecipient(config: RoutingConfig, recipient: string): RecipientResolution {
  const address = normaliseAddress(recipient);
  const { domain } = splitAddress(address);
  if (!receivingDomains(config).some((receiving) => domainKey(receiving) === domainKey(domain)))
    return { rejected: `${domain || address} is not a receiving domain`, notReceiving: true };
  const base = baseAddress(address, config.plusAddressing);
  const mailbox = configuredMailbox(config.mailboxes, base);
  if (mailbox !== undefined) return { mailbox };
  const canary = canaryAddress(config);
  if (config.health.canary.enabled && sameAddress(base, canary)) return { mailbox: canary };
  if (config.unknownRecipients.action === 'catchAll') return { mailbox: config.unknownRecipients.mailbox };
  return { rejected: 'unknown recipient' };
}

/**
 * Whether a message with these envelope recipients is only a canary: the canary is on and every recipient (none
 * the journal address) resolves to the canary's mailbox. Such a message is not locked and expires
 * (health.canary.keepDays); one that also reaches any other mailbox, or none, is mail and kept like mail.
 */
export function isCanaryOnly(config: RoutingConfig, envelopeRecipients: readonly string[]): boolean {
  if (!config.health.canary.enabled || envelopeRecipients.length === 0) return false;
  const canary = canaryAddress(config);
  return envelopeRecipients.every((recipient) => {
    if (isJournalAddress(config, recipient)) return false;
    const resolution = resolveRecipient(config, recipient);
    return 'mailbox' in resolution && resolution.mailbox === canary;
  });
}

export function isJournalAddress(config: Pick<ArchiverConfig, 'journalAddress'>, recipient: string): boolean {
  return (
    config.journalAddress !== undefined && sameAddress(normaliseAddress(recipient), config.journalAddress)
  );
}

/** Envelope recipients that no mailbox accepts (the gatekeeper bounces them; the local SMTP listener refuses them). */
export function unknownRecipients(config: ArchiverConfig, recipients: readonly string[]): string[] {
  return recipients.filter((r) => !isJournalAddress(config, r) && 'rejected' in resolveRecipient(config, r));
}

/**
 * The mailbox a sender's address belongs to: the mailbox itself (plus-addressing applied), or the mailbox that
 * forwards to it (mail the user sent from their hosted Gmail, collected from its SENT label).
 */
export function senderMailbox(
  config: Pick<ArchiverConfig, 'mailboxes' | 'plusAddressing'>,
  fromAddress: string,
): string {
  const base = baseAddress(fromAddress, config.plusAddressing);
  const mailbox = configuredMailbox(config.mailboxes, base);
  if (mailbox !== undefined) return mailbox;
  const owner = Object.entries(config.mailboxes).find(([, box]) =>
    box.forwardTo.some((target) => sameAddress(target, normaliseAddress(fromAddress))),
  );
  return owner ? owner[0] : base;
}

/**
 * Which mailbox and folder each envelope recipient's copy goes to: a mailbox (plus-addressing applied) into
 * INBOX, or Junk when SES's spam or virus verdict is FAIL; the journal address into the Sent folder of the
 * sender's mailbox, flagged \Seen; the catch-all mailbox for unknown recipients when configured. One delivery
 * per (mailbox, folder); recipients that reach no mailbox are listed as rejected with the reason. Pure: throws
 * nothing. Source: the recipients are SES's envelope recipients (the receipt's `recipients`, Bcc included).
 */
export function routeMessage(
  config: ArchiverConfig,
  envelopeRecipients: readonly string[],
  fromAddress: string | undefined,
  verdicts: Pick<Verdicts, 'spam' | 'virus'>,
): Routing {
  const junk = verdicts.spam === 'FAIL' || verdicts.virus === 'FAIL';
  const byKey = new Map<string, Delivery>();
  const rejected: RejectedRecipient[] = [];
  const add = (mailbox: string, folder: Folder, flags: Flag[], recipient: string) => {
    const key = `${mailbox}\u0000${folder}`;
    const existing = byKey.get(key);
    if (existing) {
      if (!existing.envelopeRecipients.includes(recipient)) existing.envelopeRecipients.push(recipient);
    } else {
      byKey.set(key, { mailbox, folder, flags, envelopeRecipients: [recipient] });
    }
  };

  for (const raw of envelopeRecipients) {
    const recipient = normaliseAddress(raw);
    if (isJournalAddress(config, recipient)) {
      // A journal copy is mail the user sent: it belongs in the sender's Sent folder, already read.
      const sender = fromAddress ? senderMailbox(config, fromAddress) : undefined;
      if (sender && Object.hasOwn(config.mailboxes, sender)) add(sender, 'Sent', ['\\Seen'], recipient);
      else
        rejected.push({
          recipient,
          reason: `journal copy from ${sender ?? 'no sender'}, which is not a mailbox`,
        });
      continue;
    }
    const resolution = resolveRecipient(config, recipient);
    if ('mailbox' in resolution) add(resolution.mailbox, junk ? 'Junk' : 'INBOX', [], recipient);
    else rejected.push({ recipient, reason: resolution.rejected });
  }
  return { deliveries: [...byKey.values()], rejected };
}

/**
 * The sender of a bounce to `recipient`: `mailer-daemon@` one of "domains", the SES identities the gatekeeper may
 * bounce from. The recipient's own domain when it is one of them, else the configured domain it is a subdomain of
 * (the journal subdomain), else the first domain.
 */
export function bounceSenderFor(config: Pick<ArchiverConfig, 'domains'>, recipient: string): string {
  const domain = domainKey(splitAddress(recipient).domain);
  const own =
    config.domains.find((d) => domainKey(d) === domain) ??
    config.domains.find((d) => domain.endsWith(`.${domainKey(d)}`));
  return `mailer-daemon@${own ?? config.domains[0]}`;
}
