// A mailbox typed in either spelling of its domain is the mailbox the archive names (review idn-30), and
// `list --folder`: INBOX in any case (RFC 3501 5.1), other folder names exactly, and a folder the mailbox does not
// have named with the folders it has, instead of "no messages match" (issue 29).
import { describe, expect, it } from 'vitest';
import { ExitCode, UserError } from '../../../../cli/process/output';
import { knownFolder, knownMailbox } from '../../../../cli/target/mailboxes';
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

describe('knownMailbox', () => {
  const box = { forwardTo: [], targets: [] };
  const config = { mailboxes: { 'carol@xn--bcher-kva.example': box, 'dave@bücher.example': box } };
  const indexed = (...mailboxes: string[]) => ({ mailboxes: async () => mailboxes });

  it('reads a mailbox in either spelling of its domain as the configured or indexed one', async () => {
    expect(await knownMailbox('carol@bücher.example', config, indexed())).toBe('carol@xn--bcher-kva.example');
    expect(await knownMailbox('dave@xn--bcher-kva.example', config, indexed())).toBe('dave@bücher.example');
    expect(await knownMailbox('dave@bücher.example', config, indexed())).toBe('dave@bücher.example');
    // One removed from the config keeps its mail, in the spelling it was archived under.
    expect(await knownMailbox('erin@bücher.example', config, indexed('erin@xn--bcher-kva.example'))).toBe(
      'erin@xn--bcher-kva.example',
    );
    await expect(knownMailbox('carol@bucher.example', config, indexed())).rejects.toThrow(
      'no mailbox carol@bucher.example in this archive',
    );
  });
});
