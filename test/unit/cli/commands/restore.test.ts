// The pure parts of the `restore` command: the target URL (the secret never on the command line).
import { describe, expect, it, vi } from 'vitest';
import { parseImapUrl, printRestoreReport, RestoreUsageError } from '../../../../cli/commands/restore';
import type { RestoreReport } from '../../../../shared/restore/report';

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

describe('printRestoreReport', () => {
  it('a folder named with a newline or a tab keeps to one row, its name quoted (import names folders after files)', () => {
    const folder = (name: string, target: string) => ({
      folder: name,
      target,
      match: 'same name' as const,
      created: true,
      inBundle: 1,
      moved: 1,
      alreadyThere: 0,
      refused: 0,
      verified: 1,
      altered: 0,
    });
    const report: RestoreReport = {
      dryRun: false,
      folders: [folder('INBOX', 'INBOX'), folder('a\nb', 'ab'), folder('tab\there', 'tabhere')],
      messages: 3,
      moved: 3,
      alreadyThere: 0,
      refused: [],
      verified: 3,
      altered: [],
      notVerified: [],
      nulAsHighBit: 0,
      reconnects: 0,
      statePath: '/tmp/state.jsonl',
      notAttempted: 0,
    };
    const lines: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((line: string) => lines.push(line));
    try {
      printRestoreReport(report, 'target');
    } finally {
      spy.mockRestore();
    }
    const text = lines.join('\n');
    expect(text.split('\n').filter((l) => /^\S.*\s1\s+1\s+0\s+0\s+0\s+1$/.test(l))).toHaveLength(3);
    expect(text).toContain('"a\\nb"');
    expect(text).toContain('"tab\\there"');
  });
});
