// INBOX, the one folder name IMAP compares without regard to case (RFC 3501 section 5.1): the one home of that rule
// for every reader and writer of folder names (the index's keys, the bundle's Maildir, restore, the import).

/** The name the archive keys INBOX by, and writes it as. */
export const INBOX = 'INBOX';

/**
 * Whether `name` is INBOX: those five letters in any ASCII case (RFC 3501 section 5.1). ASCII's, not Unicode's:
 * `'\u0131nbox'.toUpperCase()` is "INBOX" in JavaScript, but on the wire it is `&ATE-nbox`, another folder.
 */
export function isInbox(name: string): boolean {
  // No `u` flag: /i then folds ASCII letters only (ECMA-262 Canonicalize maps no non-ASCII letter to ASCII).
  return /^inbox$/i.test(name);
}

/** A folder name as the archive keys it: INBOX in any case is INBOX; every other name is kept as it is. */
export function canonicalFolder(folder: string): string {
  return isInbox(folder) ? INBOX : folder;
}
