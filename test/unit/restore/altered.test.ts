// What servers change as they store a message (shared/restore/altered.ts): Cyrus's 8-bit header bytes as "X",
// Courier's CRLF after a last line without one. A changed copy has the same form as the original; other
// changes do not.
import { describe, expect, it } from 'vitest';
import {
  asServersMayStore,
  describeChanges,
  possibleChanges,
  possibleSizes,
} from '../../../shared/restore/altered';

const latin1 = (text: string) => Buffer.from(text, 'latin1');

describe('what servers may change', () => {
  const original = Buffer.concat([
    Buffer.from('Subject: Caf\u00e9 \u2013 menu\r\nFrom: J\u00fcrgen <j@example.org>\r\n\r\n', 'utf8'),
    Buffer.from('body stays 8-bit: \u00e9\r\nlast line without end', 'utf8'),
  ]);

  it('counts the 8-bit header bytes and a missing final line end', () => {
    expect(possibleChanges(original)).toEqual({ highBitHeaderBytes: 7, noFinalLineEnd: true });
    expect(possibleChanges(latin1('Subject: x\r\n\r\nbody\r\n'))).toEqual({
      highBitHeaderBytes: 0,
      noFinalLineEnd: false,
    });
    expect(possibleSizes(100, { highBitHeaderBytes: 3, noFinalLineEnd: true })).toEqual([100, 102]);
    expect(possibleSizes(100, { highBitHeaderBytes: 3, noFinalLineEnd: false })).toEqual([100]);
  });

  it('a copy with the header bytes as X (Cyrus), or a CRLF added (Courier), or both, has the same form', () => {
    const cyrus = Buffer.from(original);
    const headerEnd = cyrus.indexOf('\r\n\r\n');
    for (let i = 0; i < headerEnd; i++) if ((cyrus[i] as number) >= 0x80) cyrus[i] = 0x58;
    const courier = Buffer.concat([original, latin1('\r\n')]);
    const both = Buffer.concat([cyrus, latin1('\r\n')]);
    const form = asServersMayStore(original);
    for (const copy of [cyrus, courier, both, original])
      expect(asServersMayStore(copy).equals(form)).toBe(true);
    expect(form.toString('latin1').endsWith('last line without end\r\n')).toBe(true);
    expect(describeChanges(possibleChanges(original), original.length, cyrus)).toEqual([
      '7 8-bit header bytes written as "X"',
    ]);
    expect(describeChanges(possibleChanges(original), original.length, courier)).toEqual([
      'a line end (CRLF) added after the last line',
    ]);
    expect(describeChanges(possibleChanges(original), original.length, both)).toHaveLength(2);
  });

  it('any other change gives another form: a body byte, a header byte written as "?", a line end removed', () => {
    const form = asServersMayStore(original);
    const body = Buffer.from(original);
    body[body.length - 1] = 0x21;
    const question = Buffer.from(original.toString('latin1').replace(/[\u0080-\u00ff]/, '?'), 'latin1');
    const withEnd = latin1('Subject: x\r\n\r\nbody\r\n');
    for (const copy of [body, question]) expect(asServersMayStore(copy).equals(form)).toBe(false);
    expect(asServersMayStore(latin1('Subject: x\r\n\r\nbod')).equals(asServersMayStore(withEnd))).toBe(false);
  });

  it('gives the bytes themselves back when nothing can change', () => {
    const plain = latin1('Subject: x\r\n\r\nbody\r\n');
    expect(asServersMayStore(plain)).toBe(plain);
  });
});
