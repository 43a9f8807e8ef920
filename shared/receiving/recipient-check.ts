// The one answer to "would the archive accept this envelope recipient over SMTP?": the local SMTP listener
// gives it at RCPT TO, and `ingest --to` gives it before anything is stored. In AWS the same decision is made
// by the receipt rule's domain match and the gatekeeper Lambda (bounces for unknown recipients).
import { addressKey } from '../mail/address';
import { isJournalAddress, normaliseAddress, type RoutingConfig, resolveRecipient } from './routing';

export type RecipientCheck =
  | { accepted: true; address: string }
  | { accepted: false; address: string; code: number; reply: string };

/**
 * RFC 5321 4.1.2 Mailbox syntax, as far as a recipient of ours can have it: a dot-atom local part (or a quoted
 * string) and a domain of letters, digits, hyphens and dots. Address literals are never ours.
 */
const MAILBOX =
  /^(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*|"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*")@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * An envelope recipient as SES hands it to the archive: normalised (shared/receiving/routing.ts), its domain an
 * A-label when it is internationalised (`alice@bücher.example` is `alice@xn--bcher-kva.example`), since SES's
 * receiving endpoint reads the domain as DNS and its receipt rules spell it. The one rule for both the local SMTP
 * listener (smtp-server hands RCPT TO domains as U-labels) and `import --to`.
 */
export function envelopeRecipient(recipient: string): string {
  return addressKey(normaliseAddress(recipient));
}

/**
 * Checks one envelope recipient the way the archive's SMTP side does: syntax (501 5.1.3), a receiving domain
 * (550 5.7.1 relaying denied), a mailbox, the catch-all or the journal address (550 5.1.1 otherwise). The domain
 * may be written in either spelling; `address` is the recipient as {@link envelopeRecipient} spells it.
 */
export function checkEnvelopeRecipient(config: RoutingConfig, recipient: string): RecipientCheck {
  const address = envelopeRecipient(recipient);
  if (!MAILBOX.test(address) || address.length > 254)
    return { accepted: false, address, code: 501, reply: '5.1.3 Bad recipient address syntax' };
  const resolution = resolveRecipient(config, address);
  if ('notReceiving' in resolution)
    return { accepted: false, address, code: 550, reply: '5.7.1 Relaying denied: not a receiving domain' };
  if (isJournalAddress(config, address)) return { accepted: true, address };
  if ('rejected' in resolution)
    return { accepted: false, address, code: 550, reply: '5.1.1 Mailbox does not exist' };
  return { accepted: true, address };
}
