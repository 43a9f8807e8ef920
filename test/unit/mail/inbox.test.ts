// INBOX in any case is INBOX (RFC 3501 section 5.1), and nothing else is: the one rule every reader and writer of
// folder names uses (shared/mail/inbox.ts).
import { describe, expect, it } from 'vitest';
import { canonicalFolder, isInbox } from '../../../shared/mail/inbox';

describe('INBOX in any case', () => {
  it.each(['INBOX', 'inbox', 'Inbox', 'iNbOx'])('%s is INBOX', (name) => {
    expect(isInbox(name)).toBe(true);
    expect(canonicalFolder(name)).toBe('INBOX');
  });

  // The RFC's case-insensitivity is ASCII's (IMAP names are ASCII on the wire, modified UTF-7 for the rest):
  // U+0131 (dotless i) upper-cases to "I" in JavaScript, but `&ATE-nbox` is another folder on every server.
  it.each(['\u0131nbox', '\u0130NBOX', ' INBOX', 'INBOX.Sent', 'INBOX/Sent', 'Inbox2', ''])(
    '%j is not INBOX and keeps its name',
    (name) => {
      expect(isInbox(name)).toBe(false);
      expect(canonicalFolder(name)).toBe(name);
    },
  );
});
