// History import end to end against DynamoDB Local and s3rver: what each source knew reaches the index, counts
// add up with what the index lists, and nothing is stored twice.
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { archiveReceivedMail } from '../../shared/archive/ingest';
import { type ImportTarget, importMessages } from '../../shared/history/import';
import { planImport } from '../../shared/history/plan';
import { type DeliveryRow, importMessageId, rawMailKey } from '../../shared/index/schema';
import { contentSha256 } from '../../shared/mail/content-identity';
import { exampleConfig } from '../support/config';
import { startTestServices, type TestServices } from '../support/services';

let services: TestServices;
let target: ImportTarget;
let dir: string;
const config = exampleConfig();

beforeAll(async () => {
  services = await startTestServices();
  target = {
    store: services.store,
    bucket: services.bucket,
    index: services.index,
    async deliver(notification) {
      await archiveReceivedMail(notification, { config, store: services.store, index: services.index });
    },
  };
});
afterAll(async () => services?.stop());
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'history-import-'));
  return () => rmSync(dir, { recursive: true, force: true });
});

async function rows(mailbox: string): Promise<DeliveryRow[]> {
  const out: DeliveryRow[] = [];
  for await (const row of services.index.listDeliveries(mailbox)) out.push(row);
  return out;
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const chunk of chunks) out.push(Buffer.from(chunk));
  return out;
}

let serial = 0;
function message(fields: Record<string, string>, body = 'hello', eol = '\n'): string {
  serial += 1;
  const head = { 'Message-ID': `<m${serial}.${Date.now()}@test>`, ...fields };
  return `${Object.entries(head)
    .map(([k, v]) => `${k}: ${v}`)
    .join(eol)}${eol}${eol}${body} ${serial}${eol}`;
}

describe('history import', () => {
  it('a Takeout file with --mailbox: sent mail to Sent, labels to one folder each, every label a keyword', async () => {
    const mbox = join(dir, 'All mail Including Spam and Trash.mbox');
    const entry = (labels: string, fields: Record<string, string>) =>
      `From 1802345@xxx Sat Jun 07 14:02:11 +0000 2025\nX-GM-THRID: 1802345\nX-Gmail-Labels: ${labels}\n${message(fields)}\n`;
    writeFileSync(
      mbox,
      entry('Sent', { From: 'alice@example.com', To: 'carol@elsewhere.example', Subject: 'sent one' }) +
        entry('Gesendet,Ungelesen', {
          From: 'Alice <alice@example.com>',
          To: 'dan@elsewhere.example',
          Subject: 'sent two',
        }) +
        entry('Inbox,"Work, old",Work/Clients,Starred', {
          From: 'carol@elsewhere.example',
          To: 'alice.old@gmail.example',
          Subject: 'labelled',
        }) +
        entry('Spam,Unread', { From: 'spam@spam.example', To: 'alice@example.com', Subject: 'spam' }) +
        entry('Papierkorb', { From: 'x@elsewhere.example', To: 'alice@example.com', Subject: 'trash' }),
    );
    const report = await importMessages(config, target, [mbox], { mailbox: 'alice@example.com' });
    expect(report.failed).toEqual([]);
    expect(report.archived).toBe(5);
    expect(report.mailboxes).toEqual({ 'alice@example.com': { archived: 5, duplicates: 0, failed: 0 } });
    expect(report.receivedTimeSources).toEqual({ envelope: 5 });
    const listed = await rows('alice@example.com');
    const bySubject = Object.fromEntries(listed.map((r) => [r.subject, r]));
    expect(listed).toHaveLength(5);
    expect(bySubject['sent one']).toMatchObject({ folder: 'Sent', flags: ['\\Seen'], keywords: ['Sent'] });
    expect(bySubject['sent two']).toMatchObject({ folder: 'Sent', flags: ['\\Seen'] });
    expect(bySubject.labelled).toMatchObject({
      folder: 'Work/Clients',
      flags: ['\\Flagged', '\\Seen'],
      keywords: ['Inbox', 'Work, old', 'Work/Clients', 'Starred'],
      receivedAt: '2025-06-07T14:02:11.000Z',
      receivedAtSource: 'envelope',
    });
    expect(bySubject.spam).toMatchObject({ folder: 'Junk', flags: [] });
    expect(bySubject.trash).toMatchObject({ folder: 'Trash', flags: ['\\Seen'] });
    // The stored message is the file's bytes; its identity leaves the Takeout fields out, so the same message
    // without them (its copy from another source) is the same message.
    const stored = Buffer.concat(
      await collect(await services.store.read(bySubject.labelled?.location as DeliveryRow['location'])),
    ).toString();
    expect(stored.startsWith('X-GM-THRID: 1802345\nX-Gmail-Labels: Inbox,')).toBe(true);
    const plain = join(dir, 'labelled.eml');
    writeFileSync(plain, stored.replace(/^X-GM-THRID: .*\nX-Gmail-Labels: .*\n/, '').replace(/\n/g, '\r\n'));
    expect(await importMessages(config, target, [plain], { mailbox: 'alice@example.com' })).toMatchObject({
      archived: 0,
      duplicates: 1,
    });

    // Again: nothing twice, all already present.
    const again = await importMessages(config, target, [mbox], { mailbox: 'alice@example.com' });
    expect(again).toMatchObject({ archived: 0, duplicates: 5, failed: [] });
    expect(await rows('alice@example.com')).toHaveLength(5);
  });

  it('a Maildir++ tree: folders (modified UTF-7, localised), flags, keywords, new/ unread', async () => {
    const root = join(dir, 'Maildir');
    const put = (folder: string, sub: string, name: string, text: string) => {
      mkdirSync(join(root, folder, sub), { recursive: true });
      mkdirSync(join(root, folder, 'tmp'), { recursive: true });
      writeFileSync(join(root, folder, sub, name), text);
    };
    put(
      '',
      'cur',
      '1000.a.host:2,RS',
      message({ From: 'x@elsewhere.example', To: 'bob@example.com', Subject: 'answered' }),
    );
    put(
      '',
      'new',
      '1001.b.host',
      message({ From: 'x@elsewhere.example', To: 'bob@example.com', Subject: 'unread' }),
    );
    put(
      '.Envoy&AOk-s',
      'cur',
      '1002.c.host:2,S',
      message({ From: 'bob@example.com', To: 'x@elsewhere.example', Subject: 'envoyé' }),
    );
    put(
      '.Archive.2023',
      'cur',
      '1003.d.host:2,FSa',
      message({ From: 'x@elsewhere.example', To: 'bob@example.com', Subject: 'archived' }),
    );
    writeFileSync(join(root, '.Archive.2023', 'dovecot-keywords'), '0 $Project\n');
    put(
      '.Gel&APY-schte Objekte',
      'cur',
      '1004.e.host:2,ST',
      message({ From: 'x@elsewhere.example', To: 'bob@example.com', Subject: 'deleted' }),
    );
    put(
      '.Entw&APw-rfe',
      'cur',
      '1005.f.host:2,DS',
      message({ From: 'bob@example.com', To: 'x@elsewhere.example', Subject: 'draft' }),
    );
    writeFileSync(join(root, 'dovecot-uidlist'), '3 V1 N1\n');
    const report = await importMessages(config, target, [root]);
    expect(report.failed).toEqual([]);
    expect(report.archived).toBe(6);
    const bySubject = Object.fromEntries((await rows('bob@example.com')).map((r) => [r.subject, r]));
    expect(bySubject.answered).toMatchObject({ folder: 'INBOX', flags: ['\\Answered', '\\Seen'] });
    expect(bySubject.unread).toMatchObject({ folder: 'INBOX', flags: [] });
    expect(bySubject.envoyé).toMatchObject({ folder: 'Sent', flags: ['\\Seen'] });
    expect(bySubject.archived).toMatchObject({
      folder: 'Archive/2023',
      flags: ['\\Flagged', '\\Seen'],
      keywords: ['$Project'],
    });
    expect(bySubject.deleted).toMatchObject({ folder: 'Trash', flags: ['\\Deleted', '\\Seen'] });
    expect(bySubject.draft).toMatchObject({ folder: 'Drafts', flags: ['\\Draft', '\\Seen'] });
  });

  it('a .eml file that begins with an envelope line is one message where a .eml goes, not a folder of its name', async () => {
    // Before: read as an mbox, it was filed in a folder named after the file ("saved.eml", "saved_eml" in the
    // bundle's Maildir) beside the same message saved without the line, which went to INBOX.
    const files = join(dir, 'eml');
    mkdirSync(files);
    writeFileSync(
      join(files, 'saved.eml'),
      `From x@elsewhere.example Sat Jan  3 01:05:34 2015\n${message({ From: 'x@elsewhere.example', To: 'bob@example.com', Subject: 'saved with its envelope line', Status: 'RO' })}`,
    );
    writeFileSync(
      join(files, 'Saved.EML'),
      `From - \n${message({ From: 'bob@example.com', To: 'x@elsewhere.example', Subject: 'sent, saved with a Netscape line' })}`,
    );
    const report = await importMessages(config, target, [files]);
    expect(report.failed).toEqual([]);
    expect(report.archived).toBe(2);
    const bySubject = Object.fromEntries((await rows('bob@example.com')).map((r) => [r.subject, r]));
    expect(bySubject['saved with its envelope line']).toMatchObject({
      folder: 'INBOX',
      flags: ['\\Seen'],
      receivedAtSource: 'envelope',
    });
    expect(bySubject['sent, saved with a Netscape line']).toMatchObject({ folder: 'Sent' });
  });

  it('a directory of one-message files with envelope lines is loose mail, not a folder per file; mbox folders stay', async () => {
    // Before: every file of a copy of the SpamAssassin corpus (`00001.7c53…`, one message each, each starting with
    // its envelope line) was read as an mbox named after itself: 100 files, 100 folders.
    const corpus = join(dir, 'corpus');
    mkdirSync(join(corpus, 'Lists'), { recursive: true });
    mkdirSync(join(corpus, 'Archives.sbd'));
    const one = (subject: string, from = 'x@elsewhere.example', to = 'bob@example.com') =>
      `From ${from}  Thu Aug 22 12:36:23 2002\n${message({ From: from, To: to, Subject: subject, Status: 'RO' })}`;
    writeFileSync(join(corpus, '00001.7c53336b37003a9286aba55d2945844c'), one('spamassassin 1'));
    writeFileSync(join(corpus, '00002.9c4069e25e1ef370c078db7ee85ff9ac'), one('spamassassin 2'));
    writeFileSync(join(corpus, 'inmail.17'), one('trec'));
    writeFileSync(join(corpus, 'msg_25.txt'), one('saved as text'));
    writeFileSync(join(corpus, '1.'), one('enron'));
    writeFileSync(join(corpus, '1700000000.M1P2.host,S=300:2,S'), one('maildir file out of its cur'));
    writeFileSync(
      join(corpus, '00003.0f0a1c7e2d3b4a5968778695a4b3c2d1'),
      one('sent by bob', 'bob@example.com', 'x@elsewhere.example'),
    );
    // What stays a folder, even with one message: names a person or a mail program gave a folder.
    writeFileSync(join(corpus, 'Work.mbox'), one('work'));
    writeFileSync(join(corpus, 'Lists', 'ietf'), one('ietf'));
    writeFileSync(join(corpus, 'Archives.sbd', '2023'), one('thunderbird 2023'));
    writeFileSync(join(corpus, '2023.mbox'), one('year'));
    writeFileSync(join(corpus, 'Travel 2019'), one('travel'));
    // A file of two messages is an mbox, whatever its name.
    writeFileSync(join(corpus, 'digest.txt'), `${one('digest a')}\n${one('digest b')}`);

    const report = await importMessages(config, target, [corpus]);
    expect(report).toMatchObject({ archived: 14, failed: [], skipped: [] });
    const bySubject = Object.fromEntries((await rows('bob@example.com')).map((r) => [r.subject, r]));
    for (const subject of [
      'spamassassin 1',
      'spamassassin 2',
      'trec',
      'saved as text',
      'enron',
      'maildir file out of its cur',
    ])
      expect(bySubject[subject], subject).toMatchObject({
        folder: 'INBOX',
        flags: ['\\Seen'],
        receivedAtSource: 'envelope',
      });
    expect(bySubject['sent by bob']).toMatchObject({ folder: 'Sent' });
    expect(bySubject.work).toMatchObject({ folder: 'Work' });
    expect(bySubject.ietf).toMatchObject({ folder: 'Lists/ietf' });
    expect(bySubject['thunderbird 2023']).toMatchObject({ folder: 'Archives/2023' });
    expect(bySubject.year).toMatchObject({ folder: '2023' });
    expect(bySubject.travel).toMatchObject({ folder: 'Travel 2019' });
    expect(bySubject['digest a']).toMatchObject({ folder: 'digest.txt' });
    expect(bySubject['digest b']).toMatchObject({ folder: 'digest.txt' });
    // A file named on the command line is read by the same rule.
    const single = join(dir, '00004.d5a2c8e4b5c2a1f0e9d8c7b6a5f4e3d2');
    writeFileSync(single, one('named on the command line'));
    expect(await importMessages(config, target, [single])).toMatchObject({ archived: 1, failed: [] });
    expect(
      (await rows('bob@example.com')).find((r) => r.subject === 'named on the command line'),
    ).toMatchObject({
      folder: 'INBOX',
    });
  });

  it("a header over the reader's 1 MiB is said as such, and --to archives it", async () => {
    // Before: "no To/Cc address is a configured mailbox", although To: named one (the reader reads no field of a
    // header block over its limit).
    const file = join(dir, 'huge-header.eml');
    writeFileSync(
      file,
      message({
        From: 'x@elsewhere.example',
        To: 'bob@example.com',
        Subject: 'huge header',
        'X-Long': 'B'.repeat(2 * 1024 * 1024),
      }),
    );
    const report = await importMessages(config, target, [file]);
    expect(report.failed.map((f) => f.reason)).toEqual([
      expect.stringMatching(
        /^its header is \d+ bytes, over the 1048576 read for addresses: say whose it is with --mailbox or --to$/,
      ),
    ]);
    const again = await importMessages(config, target, [file], { to: ['bob@example.com'] });
    expect(again.archived).toBe(1);
  });

  it('empty files fail, files that are not mail are skipped, never archived', async () => {
    const maildir = join(dir, 'md');
    mkdirSync(join(maildir, 'cur'), { recursive: true });
    writeFileSync(join(maildir, 'cur', '1.x.host:2,S'), '');
    const files = join(dir, 'files');
    mkdirSync(files);
    writeFileSync(join(files, 'empty.eml'), '');
    writeFileSync(join(files, 'picture.png'), Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'));
    writeFileSync(join(files, 'random.bin'), Buffer.from([0, 1, 2, 250, 251, 13, 10, 58]));
    writeFileSync(join(files, 'note.txt'), 'TODO: call Bob\nRemember: buy milk\n\nand eggs\n');
    writeFileSync(
      join(files, 'mail.eml'),
      message({ From: 'x@elsewhere.example', To: 'bob@example.com', Subject: 'real' }),
    );
    const before = (await rows('bob@example.com')).length;
    const report = await importMessages(config, target, [maildir, files]);
    expect(report.failed.map((f) => f.reason)).toEqual(['empty file', 'empty file']);
    expect(report.skipped.map((s) => s.reason)).toEqual([
      'not a mail message',
      'not a mail message',
      'not a mail message',
    ]);
    expect(report.archived).toBe(1);
    expect((await rows('bob@example.com')).length).toBe(before + 1);
  });

  it('a canary (its every envelope recipient the canary address) is skipped as not mail: nothing stored, nothing locked', async () => {
    // Ingest never locks a canary and lets it expire (docs/object-lock.md); an import would have stored it locked
    // for the full retention, so it imports none (docs/importing.md).
    const canary = message({ From: 'canary@example.com', To: 'canary@example.com', Subject: 'canary' });
    const both = message({ From: 'canary@example.com', To: 'canary@example.com, bob@example.com' });
    writeFileSync(join(dir, 'canary.eml'), canary);
    writeFileSync(join(dir, 'both.eml'), both);
    const report = await importMessages(config, target, [join(dir, 'canary.eml'), join(dir, 'both.eml')]);
    expect(report.skipped).toEqual([
      {
        origin: join(dir, 'canary.eml'),
        reason: expect.stringMatching(/^a canary \(every recipient is canary@example\.com\)/),
      },
    ]);
    // --dry-run says so too.
    expect((await planImport(config, [join(dir, 'canary.eml')])).skipped).toEqual(report.skipped);
    // A message to the canary and a mailbox is mail, as in ingest.
    expect(report).toMatchObject({ archived: 1, failed: [] });
    expect(report.mailboxes).toEqual({
      'bob@example.com': { archived: 1, duplicates: 0, failed: 0 },
      'canary@example.com': { archived: 1, duplicates: 0, failed: 0 },
    });
    const key = rawMailKey(importMessageId(contentSha256(Buffer.from(canary))));
    expect(await services.store.exists({ bucket: services.bucket, key })).toBe(false);
    expect((await rows('canary@example.com')).map((r) => r.subject)).toEqual([undefined]);
    // --to the canary address makes every message a canary: refused before anything is read.
    await expect(
      importMessages(config, target, [join(dir, 'both.eml')], { to: ['Canary@example.com'] }),
    ).rejects.toThrow(/--to Canary@example\.com: the canary address/);
  });

  it('the LF and the CRLF copy of a message are one message; the bytes first archived are kept', async () => {
    const text = message({
      From: 'x@elsewhere.example',
      To: 'bob@example.com',
      Subject: 'twice',
      Date: 'Mon, 4 Mar 102 10:00:00 +0000',
    });
    writeFileSync(join(dir, 'a-lf.eml'), text);
    writeFileSync(join(dir, 'b-crlf.eml'), text.replace(/\n/g, '\r\n'));
    const report = await importMessages(config, target, [join(dir, 'a-lf.eml'), join(dir, 'b-crlf.eml')], {
      concurrency: 4,
    });
    expect(report).toMatchObject({ archived: 1, duplicates: 1, failed: [] });
    const copies = (await rows('bob@example.com')).filter((r) => r.subject === 'twice');
    expect(copies).toHaveLength(1);
    expect(copies[0]?.lineEndings).toMatchObject({ crlf: 0 });
    expect(copies[0]?.date).toBe('2002-03-04T10:00:00.000Z');
  });

  it('--to is refused as SMTP refuses it, before anything is stored', async () => {
    writeFileSync(
      join(dir, 'm.eml'),
      message({ From: 'x@elsewhere.example', To: 'someone@elsewhere.example' }),
    );
    await expect(importMessages(config, target, [dir], { to: ['alcie@example.com'] })).rejects.toThrow(
      '550 5.1.1 Mailbox does not exist',
    );
    await expect(importMessages(config, target, [dir], { to: ['not-an-email'] })).rejects.toThrow(
      '501 5.1.3 Bad recipient address syntax',
    );
    await expect(importMessages(config, target, [dir], { mailbox: 'carol@example.com' })).rejects.toThrow(
      'not a configured mailbox',
    );
    expect(await rows('unrouted')).toEqual([]);
  });

  it('counts per mailbox add up with what the index lists; received time from the file without better evidence', async () => {
    const files = join(dir, 'counts');
    mkdirSync(files);
    for (let i = 0; i < 6; i++) {
      const to = i % 2 ? 'alice@example.com' : 'bob@example.com, alice@example.com';
      writeFileSync(
        join(files, `${i}.eml`),
        message({ From: 'x@elsewhere.example', To: to, Subject: `count ${i}` }),
      );
    }
    utimesSync(join(files, '0.eml'), new Date('1958-03-04T00:00:00Z'), new Date('1958-03-04T00:00:00Z'));
    const aliceBefore = (await rows('alice@example.com')).length;
    const bobBefore = (await rows('bob@example.com')).length;
    const report = await importMessages(config, target, [files], { concurrency: 3 });
    expect(report.mailboxes).toEqual({
      'alice@example.com': { archived: 6, duplicates: 0, failed: 0 },
      'bob@example.com': { archived: 3, duplicates: 0, failed: 0 },
    });
    expect((await rows('alice@example.com')).length - aliceBefore).toBe(6);
    expect((await rows('bob@example.com')).length - bobBefore).toBe(3);
    const zero = (await rows('bob@example.com')).find((r) => r.subject === 'count 0');
    expect(zero).toMatchObject({ receivedAt: '1958-03-04T00:00:00.000Z', receivedAtSource: 'file' });
  });

  it('Ctrl-C and run again: nothing lost, nothing twice', async () => {
    const mbox = join(dir, 'resume.mbox');
    const count = 40;
    let text = '';
    for (let i = 0; i < count; i++)
      text += `From x@elsewhere.example Tue Jan  1 10:00:${String(i).padStart(2, '0')} 2002\n${message({ From: 'x@elsewhere.example', To: 'alice@example.com', Subject: `resume ${i}` })}\n`;
    writeFileSync(mbox, text);
    const stop = new AbortController();
    const first = await importMessages(config, target, [mbox], {
      concurrency: 4,
      signal: stop.signal,
      onProgress: (_bytes, r) => {
        if (r.archived >= 10) stop.abort();
      },
    });
    expect(first.interrupted).toBe(true);
    expect(first.archived).toBeGreaterThanOrEqual(10);
    // Only the three others in flight finish; the messages read ahead and waiting for a slot are not started (a
    // Ctrl-C waits for as little as it can).
    expect(first.archived).toBeLessThanOrEqual(10 + 3);
    const second = await importMessages(config, target, [mbox], { concurrency: 4 });
    expect(second).toMatchObject({
      archived: count - first.archived,
      duplicates: first.archived,
      failed: [],
    });
    const listed = (await rows('alice@example.com')).filter((r) => r.subject?.startsWith('resume '));
    expect(listed).toHaveLength(count);
    expect(new Set(listed.map((r) => r.subject)).size).toBe(count);
  });

  it('what was skipped as not mail is mail: envelope lines in any form, a byte order mark; the rest still skipped', async () => {
    const files = join(dir, 'kinds');
    mkdirSync(files);
    // Netscape: `From - ` separators, no date (29 messages, as the file the issue names).
    let netscape = '';
    for (let i = 0; i < 29; i++)
      netscape += `From - \nX-Mozilla-Status: 0001\n${message({ From: 'x@elsewhere.example', To: 'bob@example.com', Subject: `netscape ${i}`, Date: 'Tue, 1 Jan 2002 10:00:00 +0000' })}\n`;
    writeFileSync(join(files, 'Netscape.mbox'), netscape);
    const forms = [
      'From MAILER-DAEMON Mon 1 Jan 2015 00:00:00 +0900',
      'From () 2019-10-02 05:04:34 +0000',
      'From MAILER-DAEMON Fri Jan 1 00:0:00 2015',
    ];
    writeFileSync(
      join(files, 'forms.mbox'),
      forms
        .map(
          (f, i) =>
            `${f}\n${message({ From: 'x@elsewhere.example', To: 'bob@example.com', Subject: `form ${i}` })}\n`,
        )
        .join(''),
    );
    // One message in a file of its own, after such a line; one after a byte order mark.
    writeFileSync(
      join(files, 'single.eml'),
      `From () 2019-10-02 05:04:34 +0000\n${message({ From: 'x@elsewhere.example', To: 'bob@example.com', Subject: 'single' })}`,
    );
    const bom = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from(message({ From: 'x@elsewhere.example', To: 'bob@example.com', Subject: 'with a mark' })),
    ]);
    writeFileSync(join(files, 'bom.eml'), bom);
    // Still not mail.
    writeFileSync(join(files, 'note.txt'), 'TODO: call Bob\nRemember: buy milk\n');
    writeFileSync(join(files, 'prose.txt'), 'From my point of view\nthis is prose\n');
    writeFileSync(join(files, 'picture.png'), Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'));

    const report = await importMessages(config, target, [files]);
    expect(report.failed).toEqual([]);
    expect(report.skipped.map((s) => s.origin.slice(files.length + 1)).sort()).toEqual([
      'note.txt',
      'picture.png',
      'prose.txt',
    ]);
    expect(report.archived).toBe(29 + 3 + 2);
    const bySubject = Object.fromEntries((await rows('bob@example.com')).map((r) => [r.subject, r]));
    expect(Object.keys(bySubject).filter((k) => k.startsWith('netscape '))).toHaveLength(29);
    expect(bySubject['netscape 0']).toMatchObject({
      folder: 'Netscape',
      flags: ['\\Seen'],
      receivedAtSource: 'date',
    });
    expect(forms.map((_, i) => bySubject[`form ${i}`]?.receivedAt)).toEqual([
      '2014-12-31T15:00:00.000Z',
      '2019-10-02T05:04:34.000Z',
      '2015-01-01T00:00:00.000Z',
    ]);
    expect(bySubject.single).toMatchObject({
      receivedAt: '2019-10-02T05:04:34.000Z',
      receivedAtSource: 'envelope',
    });
    const single = Buffer.concat(
      await collect(await services.store.read(bySubject.single?.location as DeliveryRow['location'])),
    );
    expect(single.toString().startsWith('Message-ID:')).toBe(true);
    // The mark stays in the archived bytes; the index read the header behind it.
    expect(bySubject['with a mark']).toMatchObject({ fromAddress: 'x@elsewhere.example' });
    const marked = Buffer.concat(
      await collect(await services.store.read(bySubject['with a mark']?.location as DeliveryRow['location'])),
    );
    expect(marked.equals(bom)).toBe(true);
  });

  it("mutt's mbox state, file names as folders, a fetcher's dates, a server maildir's INTERNALDATE", async () => {
    const mail = join(dir, 'Mail');
    mkdirSync(join(mail, 'Lists'), { recursive: true });
    const muttEntry = (subject: string, state: string[]) =>
      `From x@elsewhere.example Tue Jan  1 10:00:00 2002\n${message({ From: 'x@elsewhere.example', To: 'bob@example.com', Subject: subject })}`.replace(
        '\n\n',
        `\n${state.map((f) => `${f}\n`).join('')}\n`,
      );
    writeFileSync(
      join(mail, 'Work.mbox'),
      `${muttEntry('work read', ['Status: RO'])}\n${muttEntry('work answered', ['Status: RO', 'X-Status: AF'])}\n${muttEntry('work new', [])}\n`,
    );
    writeFileSync(
      join(mail, 'Archive_2023.mbox'),
      `${muttEntry('archived', ['Status: RO', 'X-Keywords: Project'])}\n`,
    );
    writeFileSync(join(mail, 'Lists', 'ietf'), `${muttEntry('list', ['Status: O'])}\n`);
    // getmail: its envelope line and Received are the fetch; the server's Received below is the receipt.
    writeFileSync(
      join(mail, 'inbox'),
      `From unknown Sun Dec  6 08:41:36 2026\nReturn-Path: <unknown>\nDelivered-To: unknown\nReceived: from 127.0.0.1 by localhost with IMAP4 getmail6\n  msgid:1/1; 06 Dec 2026 08:41:36 -0000\n${message({ Received: 'from mx by mail.example.com with LMTP; Thu, 4 Mar 2021 10:00:00 +0000', From: 'x@elsewhere.example', To: 'bob@example.com', Subject: 'fetched' })}\n`,
    );
    // A server's maildir: the file time is the INTERNALDATE, later than the message's own Received.
    const server = join(dir, 'server');
    mkdirSync(join(server, 'cur'), { recursive: true });
    writeFileSync(join(server, 'dovecot-uidlist'), '3 V1 N2\n1 1614852000.M1P1.host\n');
    const appended = join(server, 'cur', '1796546480.M1P1.host,S=100:2,S');
    writeFileSync(
      appended,
      message({
        Received: 'from mx by old.example.com; Tue, 1 Jan 2019 00:00:00 +0000',
        From: 'x@elsewhere.example',
        To: 'bob@example.com',
        Subject: 'migrated',
      }),
    );
    utimesSync(appended, new Date('2021-03-10T10:00:00Z'), new Date('2021-03-10T10:00:00Z'));

    const report = await importMessages(config, target, [mail, server]);
    expect(report).toMatchObject({ archived: 7, failed: [], skipped: [] });
    const bySubject = Object.fromEntries((await rows('bob@example.com')).map((r) => [r.subject, r]));
    expect(bySubject['work read']).toMatchObject({ folder: 'Work', flags: ['\\Seen'] });
    expect(bySubject['work answered']).toMatchObject({
      folder: 'Work',
      flags: ['\\Answered', '\\Flagged', '\\Seen'],
    });
    expect(bySubject['work new']).toMatchObject({ folder: 'Work', flags: [] });
    expect(bySubject.archived).toMatchObject({
      folder: 'Archive_2023',
      flags: ['\\Seen'],
      keywords: ['Project'],
    });
    expect(bySubject.list).toMatchObject({ folder: 'Lists/ietf', flags: [] });
    expect(bySubject.fetched).toMatchObject({
      folder: 'INBOX',
      receivedAt: '2021-03-04T10:00:00.000Z',
      receivedAtSource: 'received',
    });
    expect(bySubject.migrated).toMatchObject({
      receivedAt: '2021-03-10T10:00:00.000Z',
      receivedAtSource: 'internaldate',
    });
    expect(report.receivedTimeSources).toMatchObject({ internaldate: 1, received: 1, envelope: 5 });
  });
});
