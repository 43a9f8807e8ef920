// The pure parts of the `restore` command: the target URL (the secret never on the command line).
import { describe, expect, it } from 'vitest';
import { parseImapUrl, RestoreUsageError } from '../../cli/commands/restore';

describe('parseImapUrl', () => {
  it('reads imaps://user@host[:port], the user ending at the last @', () => {
    expect(parseImapUrl('imaps://alice@example.net@imap.example.net')).toEqual({
      secure: true,
      host: 'imap.example.net',
      port: 993,
      user: 'alice@example.net',
    });
    expect(parseImapUrl('imap://alice%40example.net@127.0.0.1:1143')).toEqual({
      secure: false,
      host: '127.0.0.1',
      port: 1143,
      user: 'alice@example.net',
    });
  });

  it('refuses a password in the URL, a missing user and other schemes', () => {
    expect(() => parseImapUrl('imaps://alice:secret@imap.example.net')).toThrow(RestoreUsageError);
    expect(() => parseImapUrl('imaps://alice:secret@imap.example.net')).toThrow(
      /MAIL_ARCHIVER_IMAP_PASSWORD/,
    );
    expect(() => parseImapUrl('imaps://imap.example.net')).toThrow(/needs a user/);
    expect(() => parseImapUrl('https://alice@imap.example.net')).toThrow(/imaps:\/\//);
  });
});
