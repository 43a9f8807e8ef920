// `list --folder`: INBOX in any case (RFC 3501 5.1), other folder names exactly, and a folder the mailbox does not
// have named with the folders it has, instead of "no messages match" (issue 29).
import { describe, expect, it } from 'vitest';
import { ExitCode, UserError } from '../../../../cli/process/output';
import { knownFolder } from '../../../../cli/target/mailboxes';
import type { FolderState } from '../../../../shared/index/schema';

const MAILBOX = 'bob@example.com';
const state = (folder: string): FolderState => ({ mailbox: MAILBOX, folder, uidValidity: 1, lastUid: 1 });
const index = (folders: string[]) => ({ folders: async () => folders.map(state) });

describe('knownFolder', () => {
  it('reads INBOX in any case as INBOX, and other folders by their exact name', async () => {
    for (const typed of ['inbox', 'Inbox', 'INBOX'])
      expect(await knownFolder(MAILBOX, typed, index(['INBOX']))).toBe('INBOX');
    expect(await knownFolder(MAILBOX, 'Sent', index(['INBOX', 'Sent']))).toBe('Sent');
    // The folders routing files into, also before their first message.
    expect(await knownFolder(MAILBOX, 'inbox', index([]))).toBe('INBOX');
    expect(await knownFolder(MAILBOX, 'Sent', index(['history']))).toBe('Sent');
    expect(await knownFolder(MAILBOX, 'Junk', index([]))).toBe('Junk');
  });

  it('refuses a folder the mailbox has not (exit 1, as an unknown mailbox), naming its folders', async () => {
    const error = await knownFolder(MAILBOX, 'Sentt', index(['Sent', 'INBOX', 'Archive/2023'])).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UserError);
    expect(error).toMatchObject({
      message: 'no folder Sentt in bob@example.com',
      hint: 'its folders: Archive/2023, INBOX, Junk, Sent',
      exitCode: ExitCode.failed,
    });
  });

  it('names the folder that differs only in case (names other than INBOX are case-sensitive)', async () => {
    await expect(knownFolder(MAILBOX, 'drafts', index(['INBOX', 'Drafts']))).rejects.toThrow(
      'no folder drafts in bob@example.com (did you mean Drafts? folder names other than INBOX are case-sensitive)',
    );
  });
});
