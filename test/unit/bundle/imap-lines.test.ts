// serve's private copy (shared/bundle/imap-lines.ts): a message with bare CR is written with LF in the copy (Dovecot
// then serves CRLF), renamed with its new W=, its mtime and UID kept; every other file is left as it is.
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { serveBareCrAsCrlf } from '../../../shared/bundle/imap-lines';

function maildir(): string {
  const root = join(mkdtempSync(join(tmpdir(), 'imap-lines-')), 'Maildir');
  for (const folder of ['', '.Sent'])
    for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(root, folder, sub), { recursive: true });
  return root;
}

describe('serveBareCrAsCrlf', () => {
  it('rewrites bare-CR messages (CR -> LF, W= recomputed), keeps mtime and the uidlist entry; others untouched', async () => {
    const root = maildir();
    const bareCr = Buffer.from('Subject: mac\rFrom: a@b\r\rline one\rline two\r', 'latin1');
    const mixed = Buffer.from('Subject: mixed\r\n\r\nlf\nthen cr\r\r\n', 'latin1');
    const lf = Buffer.from('Subject: lf\n\nbody\n', 'latin1');
    const names = {
      bareCr: `-367855193.a.mail-archiver,S=${bareCr.length},W=${bareCr.length}:2,S`,
      mixed: `1700000000.b.mail-archiver,S=${mixed.length},W=${mixed.length + 1}:2,`,
      lf: `1700000001.c.mail-archiver,S=${lf.length},W=${lf.length + 3}:2,`,
    };
    writeFileSync(join(root, 'cur', names.bareCr), bareCr);
    writeFileSync(join(root, '.Sent', 'cur', names.mixed), mixed);
    writeFileSync(join(root, 'cur', names.lf), lf);
    // A Date, not a number: Node's utimes takes a negative number of seconds for "now".
    const in1958 = new Date(-367855193000);
    utimesSync(join(root, 'cur', names.bareCr), in1958, in1958);
    const base = (name: string) => name.replace(/:2,.*$/, '');
    writeFileSync(
      join(root, 'dovecot-uidlist'),
      `3 V1700000000 N3\n1 :${base(names.bareCr)}\n2 :${base(names.lf)}\n`,
    );
    writeFileSync(
      join(root, 'courierimapuiddb'),
      `1 1700000000 3\n1 ${base(names.bareCr)}\n2 ${base(names.lf)}\n`,
    );

    expect(await serveBareCrAsCrlf(root)).toBe(2);

    const inbox = readdirSync(join(root, 'cur')).sort();
    const fixedName = `-367855193.a.mail-archiver,S=${bareCr.length},W=${bareCr.length + 5}:2,S`;
    expect(inbox).toEqual([fixedName, names.lf].sort());
    expect(readFileSync(join(root, 'cur', fixedName)).toString('latin1')).toBe(
      'Subject: mac\nFrom: a@b\n\nline one\nline two\n',
    );
    expect(statSync(join(root, 'cur', fixedName)).mtimeMs).toBe(-367855193000);
    expect(readFileSync(join(root, 'cur', names.lf)).equals(lf)).toBe(true);
    expect(readFileSync(join(root, 'dovecot-uidlist'), 'utf8')).toBe(
      `3 V1700000000 N3\n1 :${base(fixedName)}\n2 :${base(names.lf)}\n`,
    );
    expect(readFileSync(join(root, 'courierimapuiddb'), 'utf8')).toBe(
      `1 1700000000 3\n1 ${base(fixedName)}\n2 ${base(names.lf)}\n`,
    );
    const sent = readdirSync(join(root, '.Sent', 'cur'));
    const mixedFixed = `1700000000.b.mail-archiver,S=${mixed.length},W=${mixed.length + 2}:2,`;
    expect(sent).toEqual([mixedFixed]);
    expect(readFileSync(join(root, '.Sent', 'cur', mixedFixed)).toString('latin1')).toBe(
      'Subject: mixed\r\n\r\nlf\nthen cr\n\r\n',
    );
    expect(readdirSync(join(root, 'tmp'))).toEqual([]);
  });

  it("reads only the files named, when told which may have a bare CR (a bundle manifest's as-is messages)", async () => {
    const root = maildir();
    const name = '1700000000.d.mail-archiver,S=4,W=4:2,';
    writeFileSync(join(root, 'cur', name), Buffer.from('a\rb\r', 'latin1'));
    expect(await serveBareCrAsCrlf(root, new Set(['another-file']))).toBe(0);
    expect(readdirSync(join(root, 'cur'))).toEqual([name]);
    expect(await serveBareCrAsCrlf(root, new Set([name]))).toBe(1);
  });
});
