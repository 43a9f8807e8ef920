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
    // Every mailbox has an INBOX, also before its first message.
    expect(await knownFolder(MAILBOX, 'inbox', index([]))).toBe('INBOX');
  });

  it('refuses a folder the mailbox has not (exit 1, as an unknown mailbox), naming its folders', async () => {
    const error = await knownFolder(MAILBOX, 'Sentt', index(['Sent', 'INBOX', 'Junk'])).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UserError);
    expect(error).toMatchObject({
      message: 'no folder Sentt in bob@example.com',
      hint: 'its folders: INBOX, Junk, Sent',
      exitCode: ExitCode.failed,
    });
  });

  it('names the folder that differs only in case (names other than INBOX are case-sensitive)', async () => {
    await expect(knownFolder(MAILBOX, 'sent', index(['INBOX', 'Sent']))).rejects.toThrow(
      'no folder sent in bob@example.com (did you mean Sent? folder names other than INBOX are case-sensitive)',
    );
  });
});
