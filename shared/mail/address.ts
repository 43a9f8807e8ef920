// How an address splits: the one rule every reader of a mailbox address uses. The domain is what follows the
// last `@`: a quoted local part may itself hold `@` (RFC 5321 section 4.1.2, RFC 5322 section 3.4.1), a domain
// never does. Domains compare without regard to case (RFC 5321 section 2.4); local parts are left as they are.
// An address as copied from a header (`Name <a@b>`) is read by nodemailer's addressparser, the parser
// shared/mail/mime.ts reads headers with.

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
