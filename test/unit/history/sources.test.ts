import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  keepsInternalDate,
  maildirFlags,
  maildirFolderName,
  maildirFolderOf,
  maildirWriter,
  parseDovecotKeywords,
} from '../../../shared/history/maildir-source';
import { isMessageFileName, mboxFolderOf } from '../../../shared/history/mbox-source';
import { folderLevels, mboxStateOf } from '../../../shared/history/mbox-state';
import { archiveFolder, specialFolderOf } from '../../../shared/history/special-folders';
import { placeByLabels, splitLabels, stripTakeoutHeaders } from '../../../shared/history/takeout';
import { looksLikeMail } from '../../../shared/mail/header-block';
import { checkEnvelopeRecipient } from '../../../shared/receiving/recipient-check';
import { exampleConfig } from '../../support/config';

describe('maildir flags', () => {
  it.each([
    ['S', ['\\Seen']],
    ['R', ['\\Answered']],
    ['F', ['\\Flagged']],
    ['T', ['\\Deleted']],
    ['D', ['\\Draft']],
    ['P', ['$Forwarded']],
    ['DFPRST', ['$Forwarded', '\\Answered', '\\Deleted', '\\Draft', '\\Flagged', '\\Seen']],
    ['', []],
  ])(':2,%s', (letters, flags) => {
    expect(maildirFlags(`1700000000.M1P2.host,S=10:2,${letters}`).flags).toEqual(flags);
  });

  it('Dovecot keyword letters name the folder keywords; Windows-safe separators too', () => {
    const keywords = parseDovecotKeywords('0 $Label1\n1 Work\n2 Important\n');
    expect(maildirFlags('1.a.host:2,Sac', keywords)).toEqual({
      flags: ['\\Seen'],
      keywords: ['$Label1', 'Important'],
    });
    expect(maildirFlags('1.a.host!2,FS').flags).toEqual(['\\Flagged', '\\Seen']);
    expect(maildirFlags('1.a.host').flags).toEqual([]);
  });

  it('Dovecot keeps $Forwarded as a keyword letter: it is the flag', () => {
    expect(maildirFlags('1.a.host:2,Sb', parseDovecotKeywords('0 Work\n1 $Forwarded\n'))).toEqual({
      flags: ['$Forwarded', '\\Seen'],
      keywords: [],
    });
  });
});

describe('maildir folders as tools lay them out', () => {
  const md5 = (text: string) => createHash('md5').update(text).digest('hex');
  const offlineimap = (local: string) => `1796546581_17.29804.vm,U=1,FMD5=${md5(local)}:2,FS`;
  it.each([
    // offlineimap's default: the server's separator written as `.`, modified UTF-7 as the server names it.
    ['Work.Clients', offlineimap('Work.Clients'), 'Work/Clients'],
    ['Reisen.T&AU0-ky&AU0-', offlineimap('Reisen.T&AU0-ky&AU0-'), 'Reisen/Tōkyō'],
    ['Mail/Work.Clients', offlineimap('Work.Clients'), 'Work/Clients'], // the user named the directory above
    ['INBOX', offlineimap('INBOX'), 'INBOX'],
    ['Work/Clients', offlineimap('Work/Clients'), 'Work/Clients'], // offlineimap with sep = /
    ['v1.2', offlineimap('v1/2'), 'v1.2'], // the hash is not of this name: not offlineimap's directory
    // mbsync (SubFolders Verbatim) and Maildir++.
    ['Work/Clients', '1796546550.28914_18.vm,U=1:2,FS', 'Work/Clients'],
    ['.Work.Clients', '1.M1P2.host:2,S', 'Work/Clients'],
  ])('%s with %s -> %s', (path, sampleName, folder) =>
    expect(maildirFolderOf(path, { baseName: path.split('/').pop() as string, sampleName })).toBe(folder),
  );

  it('the directory the user named is INBOX, unless it is a folder of its own', () => {
    expect(maildirFolderOf('', { baseName: 'Maildir' })).toBe('INBOX');
    expect(maildirFolderOf('', { baseName: '.Sent', subfolder: true })).toBe('Sent');
    expect(maildirFolderOf('', { baseName: 'Work.Clients', sampleName: offlineimap('Work.Clients') })).toBe(
      'Work/Clients',
    );
  });
});

describe('whether a maildir file time is the INTERNALDATE', () => {
  const at = (iso: string) => new Date(iso);
  const names = (...n: string[]) => new Set(n);
  it.each([
    ['1796546480.M874805P26392.vm,S=261,W=269:2,S', names('dovecot-uidlist'), 'server'],
    ['1796546480.M874805P26392.vm,S=261,W=269:2,S', names('courierimapuiddb'), 'server'],
    ['1796546550.28914_1.vm,U=1:2,S', names('.mbsyncstate', '.uidvalidity'), 'mbsync'],
    ['1796546550.28914_1.vm,U=1:2,S', names(), 'mbsync'],
    ['1796546598.000001.mbox:2,F', names(), 'mb2md'],
    [
      '1796546581_3.29804.vm,U=1,FMD5=7e33429f656f1e6e9d79b29c3f82c57e:2,S',
      names('dovecot-uidlist'),
      'offlineimap',
    ],
    ['1796549574.M123P456Q1R9.host', names(), undefined],
    ['1.a:2,S', names(), undefined],
  ])('%s beside %j is written by %s', (name, folder, writer) =>
    expect(maildirWriter(name, folder)).toBe(writer),
  );

  it.each([
    // A server's APPEND with a date, mbsync's CopyArrivalDate, mb2md: the time was set apart from the write.
    ['server', '1796546480.M1P2.vm:2,S', '2021-03-04T10:00:00Z', '2026-12-06T08:41:20Z', true],
    ['mbsync', '1796546550.28914_1.vm,U=1:2,S', '2021-03-04T10:00:00Z', '2026-12-06T08:42:30Z', true],
    ['mb2md', '1796546598.000001.mbox:2,F', '2021-03-07T10:00:00Z', '2026-12-06T08:43:18Z', true],
    // The time the file was written (the name's time): receiving it for a server, fetching it for mbsync.
    ['server', '1796546480.M1P2.vm:2,S', '2026-12-06T08:41:20Z', '2026-12-06T08:41:20Z', true],
    ['mbsync', '1796546550.28914_1.vm,U=1:2,S', '2026-12-06T08:42:30Z', '2026-12-06T08:42:30Z', false],
    // A copy that did not keep times (cp -r): the time is the copy's.
    ['server', '1796546480.M1P2.vm:2,S', '2026-12-07T00:00:00Z', '2026-12-07T00:00:01Z', false],
    [
      'offlineimap',
      '1796546581_3.29804.vm,U=1,FMD5=x:2,S',
      '2021-03-04T10:00:00Z',
      '2026-12-06T08:43:01Z',
      false,
    ],
    [undefined, '1.a:2,S', '2021-03-04T10:00:00Z', '2026-12-06T08:43:01Z', false],
  ] as const)('%s: %s, mtime %s, ctime %s -> %s', (writer, name, mtime, ctime, kept) =>
    expect(keepsInternalDate(name, { mtime: at(mtime), ctime: at(ctime) }, writer)).toBe(kept),
  );
});

describe('mbox files name their folder', () => {
  it.each([
    ['/home/u/Mail/Work.mbox', '/home/u/Mail', 'Work'],
    ['/home/u/Mail/Archive_2023.mbox', '/home/u/Mail', 'Archive_2023'],
    ['/home/u/Mail/Lists/ietf', '/home/u/Mail', 'Lists/ietf'],
    ['/home/u/Mail/Archives.sbd/2023', '/home/u/Mail', 'Archives/2023'], // Thunderbird
    ['/home/u/Export/Work.mbox/mbox', '/home/u/Export', 'Work'], // Apple Mail
    ['/home/u/Mail/Sent.mbox', '/home/u/Mail', 'Sent'],
    ['/home/u/Mail/Gesendet', '/home/u/Mail', 'Sent'],
    ['/home/u/Mail/Inbox', '/home/u/Mail', 'INBOX'],
    ['/home/u/mbox', undefined, 'INBOX'], // mutt's ~/mbox
    ['/var/mail/bob', undefined, 'INBOX'], // a spool file
    ['/home/u/Work.mbox', undefined, 'Work'], // a file named on the command line
  ])('%s (from %s) -> %s', (path, root, folder) => expect(mboxFolderOf(path, root)).toBe(folder));
});

describe("a file named as one message's file, not as a folder", () => {
  it.each([
    ['/c/00001.7c53336b37003a9286aba55d2945844c', true], // SpamAssassin corpus
    ['/c/inmail.17', true], // TREC
    ['/c/maildir/1.', true], // Enron
    ['/c/1700000000.M1P2.host,S=300:2,S', true], // a maildir file outside cur/
    ['/c/msg_25.txt', true],
    ['/c/Saved.MSG', true],
    ['/m/Work.mbox', false],
    ['/m/2023.mbox', false],
    ['/m/Lists/ietf', false],
    ['/m/Archives.sbd/2023', false], // Thunderbird
    ['/m/Archives.sbd/2023.05', false],
    ['/m/2023', false],
    ['/m/Travel 2019', false],
    ['/m/Sent', false],
    ['/home/u/mbox', false],
  ])('%s -> %s', (path, expected) => expect(isMessageFileName(path)).toBe(expected));
});

describe('mbox state fields', () => {
  const state = (fields: string) =>
    mboxStateOf(Buffer.from(`${fields}\nSubject: x\n\nStatus: RO in the body\n`));
  it.each([
    ['Status: RO', ['\\Seen']],
    ['Status: O', []],
    ['Status: RO\nX-Status: AF', ['\\Answered', '\\Flagged', '\\Seen']],
    ['X-Status: TD', ['\\Deleted', '\\Draft']],
    ['X-Mozilla-Status: 0001', ['\\Seen']],
    ['X-Mozilla-Status: 1007', ['$Forwarded', '\\Answered', '\\Flagged', '\\Seen']],
    ['X-Mozilla-Status: 0009', ['\\Deleted', '\\Seen']],
    ['Tags: $Forwarded Work', ['$Forwarded']],
  ])('%j -> %j', (fields, flags) => expect(state(fields).flags).toEqual(flags));

  it('keywords from X-Keywords, X-Mozilla-Keys and neomutt Tags; the folder getmail recorded', () => {
    expect(state('X-Keywords: Work, $label1\nX-Mozilla-Keys: todo').keywords).toEqual([
      'Work',
      '$label1',
      'todo',
    ]);
    expect(state('Tags: Work').keywords).toEqual(['Work']);
    expect(state('X-getmail-retrieved-from-mailbox: =?utf-8?b?UmVpc2VuL1TFjWt5xY0=?=').fetchedFrom).toEqual([
      'Reisen',
      'Tōkyō',
    ]);
    expect(state('Subject: none').hasFlagFields).toBe(false);
    expect(folderLevels('INBOX.Work.Clients')).toEqual(['INBOX', 'Work', 'Clients']);
    expect(folderLevels('Archive 2023')).toEqual(['Archive 2023']);
    expect(folderLevels('inbox.Work')).toEqual(['inbox', 'Work']);
    expect(folderLevels('\u0131nbox.Work')).toEqual(['\u0131nbox.Work']);
  });
});

describe('maildir folders', () => {
  it.each([
    ['', 'INBOX'],
    ['.Sent', 'Sent'],
    ['.Envoy&AOk-s', 'Sent'],
    ['.Entw&APw-rfe', 'Drafts'],
    ['.Papierkorb', 'Trash'],
    ['.Corbeille', 'Trash'],
    ['.Junk E-mail', 'Junk'],
    ['.Spam', 'Junk'],
    ['.Deleted Items', 'Trash'],
    ['.Gel&APY-schte Objekte', 'Trash'],
    ['.&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-', 'Sent'],
    ['.Archive.2023', 'Archive/2023'],
    ['.Caf&AOk-.R&AOk-sum&AOk-', 'Café/Résumé'],
    ['.Entwürfe', 'Drafts'], // Courier 5: raw UTF-8
    ['Archive/2023', 'Archive/2023'], // mbsync nested
    ['[Gmail].Sent Mail', 'Sent'], // offlineimap
    ['INBOX', 'INBOX'],
    ['.INBOX.Sent', 'Sent'],
    ['.Sent.2019', 'Sent/2019'],
    ['.AT&-T', 'AT&T'],
  ])('%s -> %s', (path, folder) => expect(maildirFolderName(path)).toBe(folder));
});

describe('special folders in common languages', () => {
  it.each([
    ['Gesendete Objekte', 'Sent'],
    ['Éléments envoyés', 'Sent'],
    ['Enviados', 'Sent'],
    ['Posta inviata', 'Sent'],
    ['Verzonden items', 'Sent'],
    ['[Gmail]/Sent Mail', 'Sent'],
    ['Brouillons', 'Drafts'],
    ['Courrier indésirable', 'Junk'],
    ['Papelera', 'Trash'],
    ['Projects', undefined],
    ['inbox.Sent', 'Sent'],
    ['\u0131nbox.Sent', undefined],
  ])('%s', (name, special) => expect(specialFolderOf(name)).toBe(special));
});

describe('the archive folder of a source folder', () => {
  it.each([
    [['INBOX', 'Work'], 'Work'],
    [['inbox', 'Work'], 'Work'],
    [['Inbox'], 'INBOX'],
    [['[Gmail]', 'Sent Mail'], 'Sent'],
    // Upper-cases to INBOX in JavaScript, but is not INBOX (RFC 3501 5.1 is ASCII case): kept as a folder.
    [['\u0131nbox', 'Work'], '\u0131nbox/Work'],
  ])('%j -> %s', (levels, folder) => expect(archiveFolder(levels)).toBe(folder));
});

describe('Google Takeout labels', () => {
  it.each([
    ['Inbox,Sent', ['Inbox', 'Sent']],
    ['"Work, old",Inbox', ['Work, old', 'Inbox']],
    ['Inbox, "a \\"quoted\\" label" ,Category Updates', ['Inbox', 'a "quoted" label', 'Category Updates']],
    ['', []],
    ['Trips/2019', ['Trips/2019']],
  ])('%s', (value, labels) => expect(splitLabels(value)).toEqual(labels));

  it('strips the Takeout fields (folded too) and keeps the labels', () => {
    for (const eol of ['\n', '\r\n', '\r']) {
      const raw = Buffer.from(
        [`X-GM-THRID: 1234`, `X-Gmail-Labels: Inbox,"Work,`, ` old",Starred`, `Subject: x`, ``, `body`].join(
          eol,
        ),
      );
      const stripped = stripTakeoutHeaders(raw);
      expect(stripped.raw.toString()).toBe([`Subject: x`, ``, `body`].join(eol));
      expect(stripped.labels).toEqual(['Inbox', 'Work, old', 'Starred']);
      expect(stripped.takeout).toBe(true);
    }
  });

  it.each([
    [['Inbox'], 'INBOX', ['\\Seen']],
    [['Inbox', 'Unread'], 'INBOX', []],
    [['Sent'], 'Sent', ['\\Seen']],
    [['Gesendet', 'Ungelesen'], 'Sent', ['\\Seen']],
    [['Envoyés'], 'Sent', ['\\Seen']],
    [['Spam', 'Unread'], 'Junk', []],
    [['Trash', 'Inbox'], 'Trash', ['\\Seen']],
    [['Papierkorb'], 'Trash', ['\\Seen']],
    [['Draft'], 'Drafts', ['\\Draft', '\\Seen']],
    [['Starred', 'Inbox'], 'INBOX', ['\\Flagged', '\\Seen']],
    [['Inbox', 'Work', 'Work/Clients/Acme', 'Important'], 'Work/Clients/Acme', ['\\Seen']],
    [['Archived', 'Category Promotions', 'Opened'], 'Archive', ['\\Seen']],
    [['Sent', 'Work'], 'Sent', ['\\Seen']],
    [['Work, old', 'Inbox'], 'Work, old', ['\\Seen']],
  ])('%j -> %s %j', (labels, folder, flags) => {
    const placed = placeByLabels(labels);
    expect(placed.folder).toBe(folder);
    expect(placed.flags).toEqual(flags);
    expect(placed.keywords).toEqual(labels);
  });
});

describe('--to is checked as SMTP checks it', () => {
  const config = exampleConfig();
  it.each([
    ['alice@example.com', true, undefined],
    ['Alice+news@Example.com', true, undefined],
    ['sent@journal.example.com', true, undefined],
    ['alcie@example.com', false, '550 5.1.1 Mailbox does not exist'],
    ['not-an-email', false, '501 5.1.3 Bad recipient address syntax'],
    ['alice@@example.com', false, '501 5.1.3 Bad recipient address syntax'],
    ['alice@example.org', false, '550 5.7.1 Relaying denied: not a receiving domain'],
  ])('%s', (address, accepted, reply) => {
    const check = checkEnvelopeRecipient(config, address);
    expect(check.accepted).toBe(accepted);
    if (!check.accepted) expect(`${check.code} ${check.reply}`).toBe(reply);
  });

  it('with a catch-all, an unknown local part is accepted, as over SMTP', () => {
    const catchAll = exampleConfig({
      unknownRecipients: { action: 'catchAll', mailbox: 'alice@example.com' },
    });
    expect(checkEnvelopeRecipient(catchAll, 'alcie@example.com').accepted).toBe(true);
  });
});

describe('what is a mail message', () => {
  it.each([
    ['From: a@example.com\nSubject: x\n\nbody', true],
    ['Received: from x by y; Tue, 1 Jan 2002 10:00:00 +0000\r\nTo: b@example.com\r\n\r\n', true],
    ['Content-Type: text/plain\n\nonly MIME headers', true],
    ['\n\n   Delivered-To: a@example.com\nSubject: x\n\n', true],
    [' From: indented first line\nSubject: x\n\n', true],
    ['X-Custom: 1\nX-Other: 2\nSubject: late but there\n\n', true],
    ['TODO: call Bob\nRemember: buy milk\n\nand eggs', false],
    ['Send Ppp mailing list submissions to\n\tppp@zzz.org\n', false],
    ['// Not an RFC-822 Document\nFrom: x\n', false],
    ['\x89PNG\r\n\x1a\n', false],
    ['', false],
    // A byte order mark before the header (an editor's) does not hide it.
    ['\xef\xbb\xbfFrom: a@example.com\nSubject: x\n\nbody', true],
    ['\xef\xbb\xbfTODO: call Bob\nRemember: buy milk\n', false],
    ['Status: RO\nX-Mozilla-Status: 0001\n\n', true],
  ])('%j -> %s', (text, mail) => expect(looksLikeMail(Buffer.from(text, 'latin1'))).toBe(mail));
});
