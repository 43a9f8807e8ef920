import { describe, expect, it } from 'vitest';
import {
  CrlfToLfConverter,
  courierSubscriptions,
  crlfToLf,
  dovecotSubscriptions,
  dovecotUidList,
  encodeModifiedUtf7,
  flagLetters,
  folderDirectory,
  folderWithAncestors,
  lfToCrlf,
  messageBaseName,
  messageFileName,
  parseMessageFileName,
  storedForm,
} from '../../../shared/bundle/maildir';
import { escapeMboxrd, MboxrdEscape, mboxFromLine } from '../../../shared/bundle/mbox';
import { LineEndingCounter } from '../../../shared/mail/mime';

describe('maildir rules', () => {
  it('encodes folder names in modified UTF-7', () => {
    expect(encodeModifiedUtf7('Entwürfe')).toBe('Entw&APw-rfe');
    expect(encodeModifiedUtf7('日本語')).toBe('&ZeVnLIqe-');
    expect(encodeModifiedUtf7('A&B')).toBe('A&-B');
  });

  it('maps folders to Maildir++ directories, INBOX being the root', () => {
    expect(folderDirectory('INBOX')).toBe('');
    expect(folderDirectory('Sent')).toBe('.Sent');
    expect(folderDirectory('Archive/2023')).toBe('.Archive.2023');
    expect(folderWithAncestors('Archive/2023/Q1')).toEqual(['Archive', 'Archive/2023', 'Archive/2023/Q1']);
  });

  it('takes INBOX in any case as INBOX, and a name that only upper-cases to it as a folder of its own', () => {
    expect(folderDirectory('inbox')).toBe('');
    expect(dovecotSubscriptions(['Inbox'])).toBe('V\t2\n\nINBOX\n');
    expect(courierSubscriptions(['inbox', 'Sent'])).toBe('INBOX.Sent\n');
    expect(folderDirectory('\u0131nbox')).toBe('.&ATE-nbox');
    expect(dovecotSubscriptions(['\u0131nbox'])).toBe('V\t2\n\n&ATE-nbox\n');
    expect(courierSubscriptions(['\u0131nbox'])).toBe('INBOX.\u0131nbox\n');
  });

  it.each([
    ['../../etc', '.__.__.etc'],
    ['a.b', '.a_b'],
    ['..', '.__'],
    ['/', '._'],
    ['evil\u0000\nname', '.evilname'],
    ['back\\slash', '.back_slash'],
  ])('never lets a hostile folder name %j escape: %j', (name, directory) => {
    const dir = folderDirectory(name);
    expect(dir).toBe(directory);
    expect(dir).not.toMatch(/\/|\.\.(\/|$)|^\.\.$/);
  });

  it('sizes CRLF-only messages as LF files with W = the original size, others as they are', () => {
    expect(storedForm(100, { crlf: 10, lf: 0, cr: 0, nul: false })).toEqual({
      convertCrlf: true,
      fileSize: 90,
      virtualSize: 100,
    });
    expect(storedForm(100, { crlf: 0, lf: 10, cr: 0, nul: false })).toEqual({
      convertCrlf: false,
      fileSize: 100,
      virtualSize: 110,
    });
    expect(storedForm(100, { crlf: 5, lf: 5, cr: 0, nul: false })).toEqual({
      convertCrlf: false,
      fileSize: 100,
      virtualSize: 105,
    });
    expect(storedForm(100, { crlf: 0, lf: 0, cr: 4, nul: false })).toEqual({
      convertCrlf: false,
      fileSize: 100,
      virtualSize: 100,
    });
  });

  it('names files <secs>.<id>.<host>,S=,W=:2,<flags> and parses them back', () => {
    const base = messageBaseName({
      receivedAt: new Date('2024-01-02T03:04:05.678Z'),
      id: 'abc-1_2',
      fileSize: 90,
      virtualSize: 100,
    });
    expect(base).toBe('1704164645.abc-1_2.mail-archiver,S=90,W=100');
    const name = messageFileName(base, ['\\Seen', '\\Answered', '\\Flagged']);
    expect(name).toBe(`${base}:2,FRS`);
    expect(parseMessageFileName(name)).toEqual({
      baseName: base,
      secs: 1704164645,
      fileSize: 90,
      virtualSize: 100,
      flags: 'FRS',
    });
    expect(() =>
      messageBaseName({ receivedAt: new Date(), id: '../x', fileSize: 1, virtualSize: 1 }),
    ).toThrow();
  });

  it('orders flag letters in ASCII order', () => {
    expect(flagLetters(['\\Seen', '\\Draft', '$Forwarded', '\\Deleted'])).toBe('DPST');
  });

  it('writes the uid and subscription files in the formats Dovecot and Courier read', () => {
    expect(
      dovecotUidList(1700000000, 5, [
        { uid: 1, baseName: 'a' },
        { uid: 4, baseName: 'b' },
      ]),
    ).toBe('3 V1700000000 N5\n1 :a\n4 :b\n');
    expect(dovecotSubscriptions(['INBOX', 'Sent', 'Archive/2023'])).toBe(
      'V\t2\n\nINBOX\nSent\nArchive\t2023\n',
    );
    expect(courierSubscriptions(['INBOX', 'Sent', 'Archive/2023'])).toBe('INBOX.Sent\nINBOX.Archive.2023\n');
  });

  it('converts CRLF to LF across any chunking, and back', () => {
    const original = Buffer.from('a\r\nb\r\n\r\nc\rd\r\n');
    for (let size = 1; size <= original.length; size++) {
      const converter = new CrlfToLfConverter();
      const parts: Buffer[] = [];
      for (let i = 0; i < original.length; i += size)
        parts.push(converter.push(original.subarray(i, i + size)));
      parts.push(converter.flush());
      expect(Buffer.concat(parts).toString()).toBe(crlfToLf(original).toString());
    }
    expect(crlfToLf(original).toString()).toBe('a\nb\n\nc\rd\n');
    expect(lfToCrlf(Buffer.from('a\nb\n')).toString()).toBe('a\r\nb\r\n');
  });

  it('counts line endings across chunk boundaries', () => {
    const bytes = Buffer.from('a\r\nb\nc\rd\r\n\0');
    for (let size = 1; size <= bytes.length; size++) {
      const counter = new LineEndingCounter();
      for (let i = 0; i < bytes.length; i += size) counter.count(bytes.subarray(i, i + size));
      expect(counter.result()).toEqual({ crlf: 2, lf: 1, cr: 1, nul: true });
    }
  });
});

describe('mboxrd', () => {
  it('escapes every >*From line with one more >, streaming or not, however the bytes are chunked', async () => {
    const message = Buffer.from(
      'Subject: x\r\n\r\nFrom me\r\n>From you\r\n>>From them\r\nnot From\r\nFrom the end',
    );
    const expected = 'Subject: x\r\n\r\n>From me\r\n>>From you\r\n>>>From them\r\nnot From\r\n>From the end';
    expect(escapeMboxrd(message).toString()).toBe(expected);
    for (let size = 1; size <= message.length; size += 3) {
      const escaper = new MboxrdEscape();
      const out: Buffer[] = [];
      escaper.on('data', (c: Buffer) => out.push(c));
      for (let i = 0; i < message.length; i += size) escaper.write(message.subarray(i, i + size));
      await new Promise<void>((r) => escaper.end(r));
      expect(Buffer.concat(out).toString(), `chunk ${size}`).toBe(expected);
    }
  });

  it('escapes From lines after a bare CR (the one line rule), a CR at a chunk end included', async () => {
    const message = Buffer.from('Subject: x\r\rFrom me\r>From you\r\nFrom crlf\rnot From\r\rFrom the end\r');
    const expected = 'Subject: x\r\r>From me\r>>From you\r\n>From crlf\rnot From\r\r>From the end\r';
    expect(escapeMboxrd(message).toString()).toBe(expected);
    for (let size = 1; size <= message.length; size++) {
      const escaper = new MboxrdEscape();
      const out: Buffer[] = [];
      escaper.on('data', (c: Buffer) => out.push(c));
      for (let i = 0; i < message.length; i += size) escaper.write(message.subarray(i, i + size));
      await new Promise<void>((r) => escaper.end(r));
      expect(Buffer.concat(out).toString(), `chunk ${size}`).toBe(expected);
    }
  });

  it('writes asctime From_ lines in UTC', () => {
    expect(mboxFromLine('MAILER-DAEMON', new Date('2002-01-01T09:05:03Z'))).toBe(
      'From MAILER-DAEMON Tue Jan  1 09:05:03 2002\n',
    );
  });
});
