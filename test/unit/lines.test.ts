import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  BareCrToLf,
  ContentHasher,
  contentSha256,
  findHeaderEnd,
  joinLines,
  type Line,
  readLines,
  splitLines,
  startsWithHeaderField,
  toImapLineEndings,
} from '../../shared/mail/lines';

const texts = (lines: Line[]) => lines.map((l) => [l.text.toString('latin1'), l.ending]);

async function streamed(input: Buffer, chunkSize: number): Promise<Line[]> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < input.length; i += chunkSize) chunks.push(input.subarray(i, i + chunkSize));
  const out: Line[] = [];
  for await (const line of readLines(Readable.from(chunks))) out.push(line);
  return out;
}

describe('the one line rule', () => {
  const variants: [string, string][] = [
    ['CRLF', 'a: 1\r\nb: 2\r\n\r\nbody\r\n'],
    ['LF', 'a: 1\nb: 2\n\nbody\n'],
    ['bare CR', 'a: 1\rb: 2\r\rbody\r'],
    ['mixed', 'a: 1\r\nb: 2\n\rbody'],
  ];
  it.each(variants)('%s: four lines with their own endings', (_name, text) => {
    const lines = [...splitLines(Buffer.from(text))];
    expect(lines.map((l) => l.text.toString())).toEqual(['a: 1', 'b: 2', '', 'body']);
    expect(joinLines(lines).toString()).toBe(text);
  });

  it.each(variants)('%s: streamed in chunks of every size gives the same lines', async (_name, text) => {
    const input = Buffer.from(text);
    const whole = texts([...splitLines(input)]);
    for (let size = 1; size <= input.length; size++)
      expect(texts(await streamed(input, size))).toEqual(whole);
  });

  it('a CRLF split across chunks is one ending, not a bare CR and an empty line', async () => {
    const lines = await streamed(Buffer.from('x\r\ny'), 2);
    expect(texts(lines)).toEqual([
      ['x', '\r\n'],
      ['y', ''],
    ]);
  });

  it('finds the header end by the same rule', () => {
    expect(findHeaderEnd(Buffer.from('a: 1\r\n\r\nbody'))).toEqual({ headerEnd: 6, bodyStart: 8 });
    expect(findHeaderEnd(Buffer.from('a: 1\n\nbody'))).toEqual({ headerEnd: 5, bodyStart: 6 });
    expect(findHeaderEnd(Buffer.from('a: 1\r\rbody'))).toEqual({ headerEnd: 5, bodyStart: 6 });
    expect(findHeaderEnd(Buffer.from('a: 1\r\nb: 2'))).toBeUndefined();
  });

  it('tells a header field from other first lines', () => {
    expect(startsWithHeaderField(Buffer.from('Subject: x\n'))).toBe(true);
    expect(startsWithHeaderField(Buffer.from('X-GM-THRID: 1\n'))).toBe(true);
    expect(startsWithHeaderField(Buffer.from('\x89PNG\r\n\x1a\n'))).toBe(false);
    expect(startsWithHeaderField(Buffer.from('Remember the milk: and eggs\n'))).toBe(false);
    expect(startsWithHeaderField(Buffer.from(': no name\n'))).toBe(false);
    expect(startsWithHeaderField(Buffer.alloc(0))).toBe(false);
  });

  it('the content identity is the sha256 with every line ending made LF, whatever the chunks', () => {
    const sha = (text: string) => createHash('sha256').update(text, 'latin1').digest('hex');
    const lf = 'a: 1\nb: 2\n\nbody\n\n';
    const copies = [
      'a: 1\r\nb: 2\r\n\r\nbody\r\n\r\n',
      lf,
      'a: 1\rb: 2\r\rbody\r\r',
      'a: 1\r\nb: 2\n\rbody\r\n\r',
    ];
    for (const text of copies) {
      const input = Buffer.from(text, 'latin1');
      expect(contentSha256(input)).toBe(sha(lf));
      // Every split into three chunks, so a CR is cut from its LF at every place it can be.
      for (let i = 0; i <= input.length; i++) {
        for (let j = i; j <= input.length; j++) {
          const hasher = new ContentHasher();
          for (const chunk of [input.subarray(0, i), input.subarray(i, j), input.subarray(j)])
            hasher.update(chunk);
          expect(hasher.digest(), `${JSON.stringify(text)} cut at ${i} and ${j}`).toBe(sha(lf));
        }
      }
    }
    // One byte more than the line endings is another content; so is a line ending where there was none.
    expect(contentSha256(Buffer.from('a: 1\r\nb: 2\r\n\r\nbody!\r\n\r\n'))).not.toBe(sha(lf));
    expect(contentSha256(Buffer.from('a: 1\r\nb: 2\r\n\r\nbo\rdy\r\n\r\n'))).not.toBe(sha(lf));
    // A CRLF cut between chunks is one line ending, not two; a CR then CRLF is two.
    const split = new ContentHasher();
    split.update(Buffer.from('x\r'));
    split.update(Buffer.from('\r\ny'));
    expect(split.digest()).toBe(sha('x\n\ny'));
  });

  it('BareCrToLf turns only bare CRs into LF, across chunk boundaries', () => {
    const filter = new BareCrToLf();
    const out = Buffer.concat([
      filter.transform(Buffer.from('a\r')),
      filter.transform(Buffer.from('\nb\r')),
      filter.transform(Buffer.from('c\r')),
      filter.flush(),
    ]);
    expect(out.toString()).toBe('a\r\nb\nc\n');
  });
});

describe('toImapLineEndings', () => {
  it('writes bare LF and bare CR as CRLF and leaves CRLF, NUL and 8-bit bytes alone', () => {
    const cases: [string, string][] = [
      ['a\r\nb\r\n', 'a\r\nb\r\n'],
      ['a\nb\n', 'a\r\nb\r\n'],
      ['a\rb\r', 'a\r\nb\r\n'],
      ['a\r\nb\nc\rd', 'a\r\nb\r\nc\r\nd'],
      ['\n\r', '\r\n\r\n'],
      ['x\u0000\u00ff\r\r\n', 'x\u0000\u00ff\r\n\r\n'],
    ];
    for (const [input, expected] of cases) {
      expect(toImapLineEndings(Buffer.from(input, 'latin1')).toString('latin1'), JSON.stringify(input)).toBe(
        expected,
      );
    }
  });
});
