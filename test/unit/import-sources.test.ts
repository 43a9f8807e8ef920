import { describe, expect, it } from 'vitest';
import { maildirFlags, maildirFolderName, parseDovecotKeywords } from '../../shared/history/maildir-source';
import { specialFolderOf } from '../../shared/history/special-folders';
import { placeByLabels, splitLabels, stripTakeoutHeaders } from '../../shared/history/takeout';
import { looksLikeMail } from '../../shared/mail/header-block';
import { checkEnvelopeRecipient } from '../../shared/receiving/recipient-check';
import { exampleConfig } from '../support/config';

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
  ])('%s', (name, special) => expect(specialFolderOf(name)).toBe(special));
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
  ])('%j -> %s', (text, mail) => expect(looksLikeMail(Buffer.from(text, 'latin1'))).toBe(mail));
});
