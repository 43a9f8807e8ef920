// The pure parts of `restore`: the target URL (the secret never on the command line) and the line endings IMAP
// carries.
import { describe, expect, it } from 'vitest';
import { parseImapUrl, RestoreUsageError } from '../../cli/commands/restore';
import { toImapLineEndings } from '../../shared/restore/restore';

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

describe('toImapLineEndings', () => {
  it('writes bare LF and bare CR as CRLF and leaves CRLF, NUL and 8-bit bytes alone', () => {
    const cases: [string, string][] = [
      ['a\r\nb\r\n', 'a\r\nb\r\n'],
      ['a\nb\n', 'a\r\nb\r\n'],
      ['a\rb\r', 'a\r\nb\r\n'],
      ['a\r\nb\nc\rd', 'a\r\nb\r\nc\r\nd'],
      ['\n\r', '\r\n\r\n'],
      ['x\u0000\u00ff\r\r\n', 'x\u0000\u00ff\r\n\r\n'],
    ];
    for (const [input, expected] of cases) {
      expect(toImapLineEndings(Buffer.from(input, 'latin1')).toString('latin1'), JSON.stringify(input)).toBe(
        expected,
      );
    }
  });
});
