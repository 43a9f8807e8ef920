// How an address splits: the one rule every reader of a mailbox address uses. The domain is what follows the
// last `@`: a quoted local part may itself hold `@` (RFC 5321 section 4.1.2, RFC 5322 section 3.4.1), a domain
// never does. Domains compare without regard to case (RFC 5321 section 2.4); local parts are left as they are.
// An internationalised domain has two spellings, the U-label (`bücher.example`, in a header written under
// SMTPUTF8, RFC 6532) and the A-label (`xn--bcher-kva.example`, IDNA 2008, RFC 5891; Punycode, RFC 3492): they
// are one domain, compared through domainKey and looked up in every spelling (domainSpellings). Node's
// domainToASCII / domainToUnicode (WHATWG URL's UTS #46 processing) convert between them.
// An address as copied from a header (`Name <a@b>`) is read by nodemailer's addressparser, the parser
// shared/mail/mime.ts reads headers with.

import { domainToASCII, domainToUnicode } from 'node:url';
import addressparser from 'nodemailer/lib/addressparser';

/**
 * The one address in `text` as copied from a header (`Tim <tim@example.com>`, `<tim@example.com>`, or bare),
 * or undefined when it holds none or several.
 */
export function headerAddress(text: string): string | undefined {
  let entries: ReturnType<typeof addressparser>;
  try {
    entries = addressparser(text);
  } catch {
    return undefined;
  }
  const [entry, ...rest] = entries;
  if (!entry || rest.length > 0 || !('address' in entry) || !entry.address) return undefined;
  return entry.address;
}

/** `local@domain` split at its last `@`; an address without one is all local part (`domain` is ''). */
export function splitAddress(address: string): { local: string; domain: string } {
  const at = address.lastIndexOf('@');
  return at < 0
    ? { local: address, domain: '' }
    : { local: address.slice(0, at), domain: address.slice(at + 1) };
}

/** The domain of `address`, lower case ('' when it has none). */
export function addressDomain(address: string): string {
  return splitAddress(address).domain.toLowerCase();
}

// Only a domain with a character outside printable ASCII or an A-label can have another spelling. A plain ASCII
// domain is left alone: WHATWG's host parsing would also read `0x7f.1` as the IPv4 address 127.0.0.1, which is no
// spelling of it.
const hasOtherSpelling = (domain: string) => /[^ -~]|(?:^|\.)xn--/i.test(domain);

/** The A-label form of an internationalised `domain`, lower case, or undefined when it is not a valid IDN. */
function aLabelForm(domain: string): string | undefined {
  if (!hasOtherSpelling(domain)) return undefined;
  return domainToASCII(domain) || undefined;
}

/**
 * The form two spellings of one domain compare in: `Bücher.example`, `bücher.example` and
 * `XN--BCHER-KVA.example` are all `xn--bcher-kva.example`. The A-label, lower case, because UTS #46 maps case,
 * width and Unicode normalisation (NFC) on the way to it, so every spelling of a domain reaches one ASCII string
 * that compares byte for byte; it is also the form DNS, SES identities and the config's `domains` use. A U-label
 * would need case folding and normalisation at every comparison. A plain ASCII domain, or one that is no valid IDN
 * (`xn--zz.example`), is its lower case.
 */
export function domainKey(domain: string): string {
  return aLabelForm(domain) ?? domain.toLowerCase();
}

/**
 * Every spelling of `domain` that mail may carry, lower case, without repeats: for an internationalised domain
 * the A-label, the U-label (NFC) and `domain` itself in lower case when it is neither (written decomposed, say);
 * for a plain ASCII domain, or one that is no valid IDN, only its lower case. What is stored as written (an
 * archived row's `fromAddress`) is found by looking up each of these.
 */
export function domainSpellings(domain: string): string[] {
  const lower = domain.toLowerCase();
  const aLabel = aLabelForm(domain);
  return aLabel === undefined ? [lower] : [...new Set([aLabel, domainToUnicode(aLabel), lower])];
}

/** `address` with its domain in {@link domainKey}'s form; the local part as given (callers lower-case it). */
export function addressKey(address: string): string {
  const { local, domain } = splitAddress(address);
  return address.includes('@') ? `${local}@${domainKey(domain)}` : address;
}

/** Whether two addresses are one: the same local part, and the same domain in any spelling. */
export function sameAddress(a: string, b: string): boolean {
  return addressKey(a) === addressKey(b);
}

/**
 * Every spelling of an address, or of a part of one, as it may be stored, lower case: what follows its last `@`
 * (or, without one, the whole text) in each of {@link domainSpellings}, so `alice@bücher.example` is also
 * `alice@xn--bcher-kva.example`, and `@bücher.example` also `@xn--bcher-kva.example`. A part that ends inside a
 * label (`@büch`) has no A-label that is a part of the domain's: it finds what is written as typed.
 */
export function addressSpellings(text: string): string[] {
  const lower = text.toLowerCase();
  const at = lower.lastIndexOf('@');
  const prefix = lower.slice(0, at + 1);
  return domainSpellings(lower.slice(at + 1)).map((domain) => prefix + domain);
}
