// The SES copies judged by an independent check (../shared/tools/forward_check.py, which reads lines as SES does
// and knows nothing of our code): over the real-mail corpora, their bare-CR twins and the SpamAssassin corpus,
// no copy SES would refuse and none altered beyond the rewrite. Skips, saying so, without python3 or the tool.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type ParsedMail, simpleParser } from 'mailparser';
import { afterAll, describe, expect, it } from 'vitest';
import { LONG_LINE_CHANGE, longestLine } from '../../shared/forwarding/long-lines';
import { rewriteForForwarding } from '../../shared/forwarding/rewrite';
import { MAX_LINE_OCTETS } from '../../shared/mail/header-block';
import { BareCrToLf, findLineEnd } from '../../shared/mail/lines';
import { CORPORA_DIR, corpusMessages } from '../support/corpora';
import { spamAssassinFiles } from '../support/spam-assassin';

const TOOL = resolve(CORPORA_DIR, '../tools/forward_check.py');
const python = spawnSync('python3', ['--version']).status === 0;
const skip = !python || !existsSync(TOOL) ? `SKIPPED: needs python3 and ${TOOL}` : '';
if (skip) console.warn(skip);

/** The bare-CR twin of a message (classic Mac mail): every line ending made a lone CR. */
const bareCr = (raw: Buffer) => Buffer.from(raw.toString('latin1').replace(/\r\n|\n/g, '\r'), 'latin1');

/** A message whose header section is empty: it starts with an empty line (RFC 5322 allows it). */
const emptyHeaderSection = (raw: Buffer) => findLineEnd(raw, 0)?.end === 0;

/** What a recipient's mail program reads: text, HTML and every attachment's decoded bytes (mailparser). */
async function decodedParts(raw: Buffer) {
  // mailparser knows CRLF and LF; a message with no LF at all is read as the line rule reads it.
  const lf = new BareCrToLf();
  const readable = raw.includes(10) ? raw : Buffer.concat([lf.transform(raw), lf.flush()]);
  const mail: ParsedMail = await simpleParser(readable);
  return {
    subject: mail.subject,
    text: mail.text,
    html: mail.html,
    attachments: mail.attachments.map((a) => [a.contentType, a.content.toString('base64')]),
  };
}

function check(pairs: [string, string][], dir: string, name: string) {
  const list = join(dir, `${name}.tsv`);
  writeFileSync(list, pairs.map((p) => p.join('\t')).join('\n'));
  const run = spawnSync('python3', [TOOL, '--verified', 'example.com', list], { encoding: 'utf8' });
  const summary = run.stdout.trim().split('\n').at(-1) ?? '';
  const match = /(\d+) copies; SES would refuse (\d+) .*?; (\d+) altered/.exec(summary);
  if (!match) throw new Error(`forward_check said: ${run.stdout}${run.stderr}`);
  return {
    summary,
    copies: Number(match[1]),
    refused: Number(match[2]),
    altered: Number(match[3]),
    code: run.status,
  };
}

describe.skipIf(Boolean(skip))('forward_check over the SES copies', () => {
  const dir = mkdtempSync(join(tmpdir(), 'forward-check-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds no copy SES would refuse and none altered beyond the rewrite', async () => {
    const sources: { name: string; raw: Buffer }[] = [];
    for (const path of corpusMessages()) {
      const raw = readFileSync(path);
      sources.push({ name: path, raw }, { name: `${path} (bare CR)`, raw: bareCr(raw) });
    }
    for (const path of spamAssassinFiles()) sources.push({ name: path, raw: readFileSync(path) });
    // The kinds of damage seen before: 8-bit names, a long folded From, bounces, lines that are not fields.
    const long = Array.from({ length: 100 }, (_, i) => `Name${i}`).join(' ');
    for (const [i, head] of [
      Buffer.from(
        'From: Andr\xe9 M\xfcller <andre@example.de>\r\nContent-Type: text/plain; charset=latin1',
        'latin1',
      ),
      Buffer.from(
        'From: \xf0\xc5\xd4\xd2 <petr@example.ru>\nContent-Type: text/plain; charset=koi8-r',
        'latin1',
      ),
      Buffer.from(`From: "${long.slice(0, 300)}\r\n ${long.slice(300)}" <long@example.org>`),
      Buffer.from('From: MAILER-DAEMON <>\r\nSubject: Undelivered Mail'),
      Buffer.from(
        'From: a@b.example\nSubject: x\n--boundary\nbody line in the header block\nFrom a@b Mon Jan 1',
      ),
    ].entries()) {
      const raw = Buffer.concat([head, Buffer.from('\r\nTo: alice@example.com\r\n\r\nbody\r\n')]);
      sources.push({ name: `fixture ${i}`, raw }, { name: `fixture ${i} (bare CR)`, raw: bareCr(raw) });
    }
    expect(sources.length).toBeGreaterThan(600);
    mkdirSync(join(dir, 'copies'));
    const pairs: [string, string][] = [];
    const emptyHeader: [string, string][] = [];
    const longLines: [string, string][] = [];
    const tooLong: string[] = [];
    for (const [i, source] of sources.entries()) {
      const original = join(dir, 'copies', `${i}.orig`);
      const copy = join(dir, 'copies', `${i}.fwd`);
      writeFileSync(original, source.raw);
      const rewritten = await rewriteForForwarding({
        raw: source.raw,
        fromAddress: 'forwarder@example.com',
        envelopeRecipient: 'alice@example.com',
        trace: `${i}; example.com`,
      });
      writeFileSync(copy, rewritten.raw);
      // SES refuses a line over 1,000 characters (SESv2 RawMessage; RFC 5321/5322): the check does not look.
      if (longestLine(rewritten.raw) > MAX_LINE_OCTETS) tooLong.push(source.name);
      if (rewritten.changes?.some((c) => c.startsWith(LONG_LINE_CHANGE))) longLines.push([original, copy]);
      else (emptyHeaderSection(source.raw) ? emptyHeader : pairs).push([original, copy]);
    }
    expect(tooLong).toEqual([]);
    const result = check(pairs, dir, 'all');
    console.log(
      `${result.summary} (plus ${emptyHeader.length} messages with an empty header section and ${longLines.length} with a line over 998 octets)`,
    );
    expect(result).toMatchObject({ copies: pairs.length, refused: 0, altered: 0, code: 0 });

    // A message that starts with an empty line has no header fields; its body is everything after that line
    // (RFC 5322 2.1, and JavaMail, which SES uses). The check's header/body split needs two line endings in a
    // row, so it may read the first body line as a header and report the copy as "body changed". Their
    // bodies are byte for byte the original's by the line rule, and SES accepts them.
    if (emptyHeader.length > 0) {
      const quirk = check(emptyHeader, dir, 'empty-header');
      console.log(`empty header section: ${quirk.summary}`);
      expect(quirk.refused).toBe(0);
      expect(quirk.altered).toBeLessThanOrEqual(emptyHeader.length);
      for (const [original, copy] of emptyHeader) {
        const body = readFileSync(original);
        expect(readFileSync(copy).subarray(-body.length).equals(body)).toBe(true);
      }
    }

    // A copy with a line over 998 octets had that part re-encoded (or a field folded) so that SES takes it; the
    // check compares raw bodies and may call it "body changed". What the recipient reads must be the same:
    // mailparser's text, HTML and attachment bytes of copy and original are compared.
    console.log(`line over 998 octets: ${longLines.length} copies re-encoded or folded`);
    expect(longLines.length).toBeGreaterThan(0);
    const quirk = check(longLines, dir, 'long-lines');
    console.log(`line over 998 octets: ${quirk.summary}`);
    expect(quirk.refused).toBe(0);
    for (const [original, copy] of longLines) {
      const raw = readFileSync(original);
      expect(await decodedParts(readFileSync(copy)), original).toEqual(await decodedParts(raw));
    }
  }, 300_000);

  it('can fail: a copy that changes a body byte or repeats a field is counted', () => {
    const raw = Buffer.from('From: a@b.example\r\nSubject: s\r\n\r\nbody\r\n');
    const original = join(dir, 'bad.orig');
    const copy = join(dir, 'bad.fwd');
    writeFileSync(original, raw);
    writeFileSync(copy, Buffer.from('From: x@example.com\r\nSubject: s\r\nSubject: t\r\n\r\nbodY\r\n'));
    expect(check([[original, copy]], dir, 'bad')).toMatchObject({ refused: 1, altered: 1, code: 1 });
  });
});
