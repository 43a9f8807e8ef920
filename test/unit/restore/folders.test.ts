// Folder mapping (shared/restore/folders.ts) against a fake client that lists what real servers list.
import { describe, expect, it } from 'vitest';
import type { BundleManifest } from '../../../shared/bundle/manifest';
import { RestoreUnsupportedError, TargetRefusedError } from '../../../shared/restore/errors';
import { createFolder, mapFolders, withoutDots } from '../../../shared/restore/folders';
import { type FolderRun, selectFolders } from '../../../shared/restore/plan';
import { commandError, FakeImapClient } from '../../support/fake-imap';

const run = (name: string, target = name): FolderRun => ({
  name,
  target,
  match: 'same name',
  messages: [],
  claimed: new Set(),
  unclaimed: new Map(),
});

describe('mapFolders', () => {
  const folders = ['INBOX', 'Sent', 'Junk', 'Drafts', 'Trash', 'Archive/2023'];
  const targets = (mapping: Map<string, { target: string }>) =>
    Object.fromEntries([...mapping].map(([name, m]) => [name, m.target]));

  it('sends Sent, Junk, Drafts and Trash to the folders the server marks with that special use (Gmail)', async () => {
    const gmail = new FakeImapClient(
      [
        { path: 'INBOX' },
        { path: '[Gmail]', flags: ['\\Noselect'] },
        { path: '[Gmail]/Sent Mail', flags: ['\\Sent'] },
        { path: '[Gmail]/Spam', flags: ['\\Junk'] },
        { path: '[Gmail]/Drafts', flags: ['\\Drafts'] },
        { path: '[Gmail]/Bin', flags: ['\\Trash'] },
      ],
      undefined,
      { prefix: '', delimiter: '/' },
    );
    const mapping = await mapFolders(gmail.asImapFlow(), ['inbox', ...folders.slice(1)]);
    expect(targets(mapping)).toEqual({
      inbox: 'INBOX',
      Sent: '[Gmail]/Sent Mail',
      Junk: '[Gmail]/Spam',
      Drafts: '[Gmail]/Drafts',
      Trash: '[Gmail]/Bin',
      'Archive/2023': 'Archive/2023',
    });
    expect(mapping.get('Sent')).toEqual({ target: '[Gmail]/Sent Mail', match: 'special use', use: '\\Sent' });
    expect(mapping.get('inbox')).toEqual({ target: 'INBOX', match: 'inbox' });
  });

  it('reads the attributes case-insensitively (Cyrus lists \\sent and \\junk), before any name', async () => {
    // As Cyrus 3.6 lists the folders it autocreates with xlist-sent / xlist-junk, beside a user folder "Sent".
    const cyrus = new FakeImapClient(
      [
        { path: 'INBOX' },
        { path: 'Sent', specialUse: '\\Sent', specialUseSource: 'name' },
        { path: 'Sent Items', flags: ['\\HasNoChildren', '\\sent'] },
        { path: 'Spam', flags: ['\\HasNoChildren', '\\junk'] },
        { path: 'Drafts', flags: ['\\drafts'] },
        { path: 'Trash', flags: ['\\TRASH'] },
      ],
      undefined,
      { prefix: '', delimiter: '/' },
    );
    const mapping = await mapFolders(cyrus.asImapFlow(), folders);
    expect(targets(mapping)).toMatchObject({
      Sent: 'Sent Items',
      Junk: 'Spam',
      Drafts: 'Drafts',
      Trash: 'Trash',
    });
    expect(mapping.get('Junk')).toEqual({ target: 'Spam', match: 'special use', use: '\\Junk' });
  });

  it('where no folder carries the attribute (Courier), takes the folder providers name so, top level of INBOX.', async () => {
    // imapflow reports specialUse from its table of the names providers use when the server marks nothing.
    const courier = new FakeImapClient(
      [
        { path: 'INBOX', delimiter: '.' },
        { path: 'INBOX.Clients.Sent', delimiter: '.', specialUse: '\\Sent', specialUseSource: 'name' },
        { path: 'INBOX.Sent Messages', delimiter: '.', specialUse: '\\Sent', specialUseSource: 'name' },
        { path: 'INBOX.Spam', delimiter: '.', specialUse: '\\Junk', specialUseSource: 'name' },
        { path: 'INBOX.Deleted Items', delimiter: '.', specialUse: '\\Trash', specialUseSource: 'name' },
      ],
      undefined,
      { prefix: 'INBOX.', delimiter: '.' },
    );
    const mapping = await mapFolders(courier.asImapFlow(), folders);
    expect(targets(mapping)).toEqual({
      INBOX: 'INBOX',
      Sent: 'INBOX.Sent Messages',
      Junk: 'INBOX.Spam',
      Drafts: 'INBOX.Drafts',
      Trash: 'INBOX.Deleted Items',
      'Archive/2023': 'INBOX.Archive.2023',
    });
    expect(mapping.get('Sent')).toEqual({
      target: 'INBOX.Sent Messages',
      match: 'provider name',
      use: '\\Sent',
    });
    expect(mapping.get('Drafts')).toEqual({ target: 'INBOX.Drafts', match: 'same name', use: '\\Drafts' });
  });

  it('a folder marked for the use wins over one named for it; a \\Noselect one is never a target', async () => {
    const server = new FakeImapClient(
      [
        { path: 'INBOX' },
        { path: 'Junk', specialUse: '\\Junk', specialUseSource: 'name' },
        { path: 'Old', flags: ['\\Noselect', '\\Sent'] },
        { path: 'Bulk', flags: ['\\Junk'] },
      ],
      undefined,
      { prefix: '', delimiter: '/' },
    );
    const mapping = await mapFolders(server.asImapFlow(), ['Sent', 'Junk']);
    expect(targets(mapping)).toEqual({ Sent: 'Sent', Junk: 'Bulk' });
  });

  it("keeps other names, levels joined with the server's delimiter under its personal namespace", async () => {
    const courierLike = new FakeImapClient([{ path: 'INBOX', delimiter: '.' }], undefined, {
      prefix: 'INBOX.',
      delimiter: '.',
    });
    const mapping = await mapFolders(courierLike.asImapFlow(), ['Archive/2023', 'Notes v1.2', 'Sent']);
    expect(targets(mapping)).toEqual({
      'Archive/2023': 'INBOX.Archive.2023',
      // The delimiter inside one level would make two levels of it.
      'Notes v1.2': 'INBOX.Notes v1_2',
      Sent: 'INBOX.Sent',
    });
  });

  it('INBOX in any case is the INBOX; a name that only upper-cases to it in JavaScript keeps its name', async () => {
    const server = new FakeImapClient([{ path: 'INBOX' }], undefined, { prefix: '', delimiter: '/' });
    const mapping = await mapFolders(server.asImapFlow(), ['Inbox', '\u0131nbox']);
    expect(mapping.get('Inbox')).toEqual({ target: 'INBOX', match: 'inbox' });
    expect(mapping.get('\u0131nbox')).toEqual({ target: '\u0131nbox', match: 'same name' });
  });
});

describe('selectFolders', () => {
  const manifest = { folders: [{ name: 'INBOX' }, { name: 'Sent' }] } as BundleManifest;

  it('takes INBOX in any case, other names as they are, in manifest order', () => {
    expect(selectFolders(manifest, ['Sent', 'inbox'])).toEqual(['INBOX', 'Sent']);
    expect(() => selectFolders(manifest, ['sent'])).toThrow(
      'no folder "sent" in the bundle (it has: INBOX, Sent)',
    );
  });

  it('does not take a name that only upper-cases to INBOX in JavaScript (RFC 3501 5.1 is ASCII case)', () => {
    expect(() => selectFolders(manifest, ['\u0131nbox'])).toThrow(RestoreUnsupportedError);
  });
});

describe('createFolder', () => {
  it('creates the target when the server accepts the name', async () => {
    const client = new FakeImapClient([{ path: 'INBOX' }], undefined, { prefix: '', delimiter: '/' });
    await createFolder(client.asImapFlow(), run('Work'));
    expect(client.created).toEqual(['Work']);
  });

  it('a name refused for its dots is created with "_" in each level, and the run maps to it, said in the log', async () => {
    const client = new FakeImapClient([{ path: 'INBOX' }], undefined, { prefix: '', delimiter: '/' });
    client.refuseCreate.set(
      'a.b z/c.d',
      commandError({ status: 'NO', code: 'CANNOT', text: "Character not allowed in mailbox name: '.'" }),
    );
    const folder = run('a.b z/c.d');
    const lines: string[] = [];
    await createFolder(client.asImapFlow(), folder, (line) => lines.push(line));
    expect(client.created).toEqual(['a_b z/c_d']);
    expect(folder.target).toBe('a_b z/c_d');
    expect(lines).toEqual([
      'folder "a.b z/c.d": the server refuses the name "a.b z/c.d" (NO [CANNOT] Character not allowed in mailbox name: \'.\'); using "a_b z/c_d"',
    ]);
  });

  it('both names refused: TargetRefusedError with both answers and the way on (--folder)', async () => {
    const client = new FakeImapClient([{ path: 'INBOX' }], undefined, { prefix: '', delimiter: '/' });
    client.refuseCreate.set('x.y', commandError({ status: 'NO', text: 'no dots' }));
    client.refuseCreate.set('x_y', commandError({ status: 'NO', text: 'Too many mailboxes' }));
    const error = await createFolder(client.asImapFlow(), run('x.y')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetRefusedError);
    expect((error as Error).message).toBe(
      'the IMAP server refuses to create folder "x.y" (NO no dots) and "x_y" (NO Too many mailboxes) for bundle folder "x.y"; restore the other folders with --folder',
    );
  });

  it("a name without dots refused: the command and the server's words", async () => {
    const client = new FakeImapClient([{ path: 'INBOX' }], undefined, { prefix: '', delimiter: '/' });
    client.refuseCreate.set(
      'Work',
      commandError({ status: 'NO', code: 'LIMIT', text: 'Too many mailboxes', command: 'CREATE Work' }),
    );
    const error = await createFolder(client.asImapFlow(), run('Work')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetRefusedError);
    expect((error as Error).message).toBe(
      'the IMAP server refused "CREATE Work": NO [LIMIT] Too many mailboxes',
    );
  });
});

describe('withoutDots', () => {
  it('writes ".", "%", "\\" and the like as "_" in every level and keeps the delimiter', () => {
    expect(withoutDots('a.b/c.d', '/')).toBe('a_b/c_d');
    expect(withoutDots('plain', '/')).toBe('plain');
    // What Cyrus IMAP 3.6 refuses with "NO Invalid mailbox name" (measured); letters of any script stay.
    expect(withoutDots('50%/back\\slash/"q"!^|{x}*', '/')).toBe('50_/back_slash/_q_____x__');
    expect(withoutDots("Café & Co (old), #2 ~ 'x'", '/')).toBe("Café & Co (old), #2 ~ 'x'");
  });
});
