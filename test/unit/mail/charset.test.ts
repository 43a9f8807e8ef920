import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import {
  decodeBytes,
  decodeModifiedUtf7,
  decoderName,
  decodeWords,
  encodeModifiedUtf7,
  isKnownCharset,
  MAC_CHARSET_ALIASES,
} from '../../../shared/mail/charset';
import { readMessageBytes } from '../../../shared/mail/mime';

// Text in each Macintosh encoding, encoded with iconv-lite's own table for it (so the expectation is the text).
const macSamples: [string, string, string][] = [
  ['x-mac-roman', 'macintosh', 'Café crème'],
  ['x-mac-ce', 'maccenteuro', 'Łódź, Žluťoučký kůň'],
  ['x-mac-centraleurroman', 'maccenteuro', 'Łódź'],
  ['x-mac-cyrillic', 'maccyrillic', 'Привет, мир'],
  ['x-mac-ukrainian', 'macukraine', 'Ґанок і їжак'],
  ['x-mac-greek', 'macgreek', 'Καλημέρα'],
  ['x-mac-turkish', 'macturkish', 'Şişli, İstanbul'],
  ['x-mac-icelandic', 'maciceland', 'Þórður'],
  ['x-mac-croatian', 'maccroatian', 'Čšžćđ'],
  ['x-mac-romanian', 'macromania', 'Ţară'],
  ['x-mac-thai', 'macthai', 'สวัสดี'],
  ['x-mac-japanese', 'shiftjis', '日本語'],
  ['x-mac-chinesetrad', 'big5', '中文'],
  ['x-mac-chinesesimp', 'gb2312', '中文'],
  ['x-mac-korean', 'euckr', '한국어'],
];

describe('one charset decoding path', () => {
  it('every alias names an encoding iconv-lite has', () => {
    for (const target of Object.values(MAC_CHARSET_ALIASES)) expect(iconv.encodingExists(target)).toBe(true);
  });

  it.each(macSamples)(
    '%s decodes bytes, encoded words and the indexed Subject',
    async (label, iconvName, text) => {
      const bytes = iconv.encode(text, iconvName);
      expect(decoderName(label)).toBe(iconvName);
      expect(decoderName(label.toUpperCase())).toBe(iconvName);
      expect(decodeBytes(bytes, label)).toBe(text);
      const b = `=?${label}?B?${bytes.toString('base64')}?=`;
      const q = `=?${label}?Q?${[...bytes].map((c) => `=${c.toString(16).toUpperCase().padStart(2, '0')}`).join('')}?=`;
      expect(decodeWords(b)).toBe(text);
      expect(decodeWords(q)).toBe(text);
      const summary = await readMessageBytes(
        Buffer.from(
          `From: =?${label}?B?${bytes.toString('base64')}?= <a@example.com>\r\nSubject: ${q}\r\n\r\nx\r\n`,
        ),
      );
      expect(summary.headers.subject).toBe(text);
      expect(summary.headers.from[0]?.name).toBe(text);
    },
  );

  it('ISO-2022-JP (RFC 1468), which iconv-lite lacks, decodes in bytes, encoded words and the indexed headers', async () => {
    // 日本語 as RFC 1468 writes it: ESC $ B switches to JIS X 0208 (日 0x467C, 本 0x4B5C, 語 0x386C), ESC ( B back.
    const bytes = Buffer.from('\x1b$BF|K\\8l\x1b(B', 'latin1');
    for (const label of ['ISO-2022-JP', 'iso-2022-jp', 'csISO2022JP']) {
      expect(isKnownCharset(label), label).toBe(true);
      expect(decodeBytes(bytes, label), label).toBe('日本語');
      expect(decodeWords(`=?${label}?B?${bytes.toString('base64')}?=`), label).toBe('日本語');
    }
    const summary = await readMessageBytes(
      Buffer.from(
        `From: =?ISO-2022-JP?B?${bytes.toString('base64')}?= <a@example.jp>\r\nSubject: =?iso-2022-jp?B?${bytes.toString('base64')}?=\r\n\r\nx\r\n`,
      ),
    );
    expect(summary.headers.subject).toBe('日本語');
    expect(summary.headers.from[0]?.name).toBe('日本語');
    // 8-bit bytes are not ISO-2022-JP (a 7-bit encoding): read as unlabelled text, as any label that does not fit.
    expect(decodeBytes(Buffer.from('caf\xc3\xa9', 'latin1'), 'ISO-2022-JP')).toBe('café');
  });

  it('an attachment name in an RFC 2231 parameter of a Macintosh charset is decoded', async () => {
    const name = iconv.encode('Отчёт.pdf', 'maccyrillic');
    const encoded = [...name].map((c) => `%${c.toString(16).toUpperCase().padStart(2, '0')}`).join('');
    const raw = Buffer.from(
      [
        'Content-Type: multipart/mixed; boundary=b',
        '',
        '--b',
        `Content-Type: application/pdf; name*=x-mac-cyrillic''${encoded}`,
        'Content-Disposition: attachment',
        '',
        'x',
        '--b--',
        '',
      ].join('\r\n'),
    );
    const summary = await readMessageBytes(raw);
    expect(summary.attachments[0]?.filename).toBe('Отчёт.pdf');
  });

  it('unknown or missing labels: UTF-8 when valid, else Windows-1252; never throws', () => {
    expect(decodeBytes(Buffer.from('Grüße'), 'x-unknown')).toBe('Grüße');
    expect(decodeBytes(iconv.encode('Grüße €', 'windows1252'))).toBe('Grüße €');
    expect(decoderName('no-such-charset')).toBeUndefined();
    expect(decodeWords('=?broken?Q?x')).toBe('=?broken?Q?x');
  });

  it('encoded words in a charset no decoder knows are read as unlabelled 8-bit text, not as U+FFFD', () => {
    const b = (text: string, charset: string) => iconv.encode(text, charset).toString('base64');
    expect(decodeWords('=?x-bogus?Q?J=E9r=F4me?=')).toBe('Jérôme');
    expect(decodeWords(`=?unknown-8bit?B?${b('François', 'latin1')}?= <f@example.fr>`)).toBe(
      'François <f@example.fr>',
    );
    expect(decodeWords('=?x-bogus?Q?J=C3=A9r=C3=B4me?=')).toBe('Jérôme');
    // Words of one unknown label are judged together: a UTF-8 character split across two words stays whole.
    expect(decodeWords('=?x-bogus?Q?caf=C3?= =?x-bogus?Q?=A9?=')).toBe('café');
    expect(decodeWords('=?us-ascii?Q?plain?= =?x-bogus?Q?a=E9?=')).toBe('plainaé');
    // Known labels are untouched.
    expect(decodeWords(`=?koi8-r?B?${b('Пётр', 'koi8-r')}?=`)).toBe('Пётр');
  });

  it('modified UTF-7 folder names both ways', () => {
    expect(decodeModifiedUtf7('Envoy&AOk-s')).toBe('Envoyés');
    expect(decodeModifiedUtf7('Entw&APw-rfe')).toBe('Entwürfe');
    expect(decodeModifiedUtf7('&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-')).toBe('Отправленные');
    expect(decodeModifiedUtf7('A&-B')).toBe('A&B');
    expect(encodeModifiedUtf7('Entwürfe')).toBe('Entw&APw-rfe');
  });
});
