// serve's follower (cli/local/follow-maildir.ts) over real directories: what a writer adds to the source maildir
// reaches the copy with the source's UIDs, under the copy's own uidlist (Dovecot's lines kept); what cannot be
// shown to an IMAP client (a UID below one served, a link) is said, not added. The end-to-end test with a real
// Dovecot and a real sync is test/e2e/sync-replica.test.ts.
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { followMaildir, type MaildirFollower } from '../../../../cli/local/follow-maildir';

let root: string;
let source: string;
let copy: string;
let follower: MaildirFollower | undefined;
const problems: string[] = [];
const added: [string, number[]][] = [];

const body = (n: number, eol = '\n') =>
  `Subject: m${n}${eol}Message-ID: <m${n}@x>${eol}${eol}body ${n}${eol}`;
const base = (n: number, text: string) => {
  const size = Buffer.byteLength(text);
  const bareLf = (text.match(/(?<!\r)\n/g) ?? []).length;
  return `${1_700_000_000 + n}.m${n}.host,S=${size},W=${size + bareLf}`;
};

function folder(dir: string) {
  for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(dir, sub), { recursive: true });
}

/** Puts message n into a folder of the source (file, mtime) and returns its base name. */
function put(dir: string, n: number, flags = '', text = body(n)): string {
  const name = base(n, text);
  const path = join(dir, 'cur', `${name}:2,${flags}`);
  writeFileSync(path, text);
  utimesSync(path, 1_600_000_000 + n, 1_600_000_000 + n);
  return name;
}

const uidlist = (validity: number, entries: [number, string][], extra = '') =>
  `3 V${validity} N${Math.max(0, ...entries.map(([u]) => u)) + 1}${extra}\n${entries.map(([u, b]) => `${u} :${b}\n`).join('')}`;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'follow-'));
  source = join(root, 'source');
  copy = join(root, 'copy');
  folder(source);
  folder(copy);
  problems.length = 0;
  added.length = 0;
});

afterEach(async () => {
  await follower?.stop();
  follower = undefined;
  rmSync(root, { recursive: true, force: true });
});

const follow = async () => {
  follower = followMaildir({
    source,
    copy,
    intervalMs: 60_000,
    onAdded: (f, uids) => added.push([f, uids]),
    onProblem: (m) => problems.push(m),
  });
  await follower.pass();
  return follower;
};

describe('following a maildir into serve’s copy', () => {
  it('adds a new message with the source’s UID and mtime, keeping the copy’s own uidlist lines', async () => {
    const one = put(source, 1);
    writeFileSync(join(source, 'dovecot-uidlist'), uidlist(77, [[1, one]]));
    // The copy as Dovecot left it: its GUID in the header, an extension field on a line.
    writeFileSync(join(copy, 'cur', `${one}:2,`), body(1));
    writeFileSync(join(copy, 'dovecot-uidlist'), `3 V77 N2 Gabc123\n1 W60 :${one}\n`);
    const f = await follow();
    expect(added).toEqual([]);
    const two = put(source, 2, 'S');
    const three = put(source, 3);
    writeFileSync(
      join(source, 'dovecot-uidlist'),
      uidlist(77, [
        [1, one],
        [2, two],
        [5, three],
      ]),
    );
    await f.pass();
    expect(added).toEqual([['INBOX', [2, 5]]]);
    expect(readFileSync(join(copy, 'dovecot-uidlist'), 'utf8')).toBe(
      `3 V77 N6 Gabc123\n1 W60 :${one}\n2 :${two}\n5 :${three}\n`,
    );
    expect(readFileSync(join(copy, 'cur', `${two}:2,S`), 'utf8')).toBe(body(2));
    expect(Math.floor(statSync(join(copy, 'cur', `${three}:2,`)).mtimeMs / 1000)).toBe(1_600_000_003);
    expect(readdirSync(join(copy, 'tmp'))).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('says a UID below one already served and leaves it out (an IMAP client cannot be shown it)', async () => {
    const four = put(source, 4);
    writeFileSync(join(source, 'dovecot-uidlist'), uidlist(9, [[4, four]]));
    writeFileSync(join(copy, 'dovecot-uidlist'), uidlist(9, []));
    const f = await follow();
    expect(added).toEqual([['INBOX', [4]]]);
    const late = put(source, 3);
    writeFileSync(
      join(source, 'dovecot-uidlist'),
      uidlist(9, [
        [3, late],
        [4, four],
      ]),
    );
    await f.pass();
    expect(problems).toEqual([expect.stringMatching(/INBOX: UID 3 .* arrived after UID 4 was served/)]);
    expect(readdirSync(join(copy, 'cur'))).toEqual([`${four}:2,`]);
  });

  it('serves a bare CR as a line end (W= recounted) and a keyword by its name, in the copy only', async () => {
    writeFileSync(join(copy, 'dovecot-uidlist'), uidlist(5, []));
    writeFileSync(join(copy, 'dovecot-keywords'), '0 $Junk\n');
    writeFileSync(join(source, 'dovecot-keywords'), '0 $Forwarded\n1 $Junk\n');
    const text = body(1, '\r');
    const one = put(source, 1, 'Pab', text);
    writeFileSync(join(source, 'dovecot-uidlist'), uidlist(5, [[1, one]]));
    await follow();
    expect(problems).toEqual([]);
    const [served] = readdirSync(join(copy, 'cur'));
    expect(readFileSync(join(copy, 'cur', served as string), 'utf8')).toBe(body(1, '\n'));
    // $Junk is the copy's letter a; $Forwarded is added to the copy's keywords as b.
    expect(served).toBe(`${base(1, body(1, '\n'))}:2,Pab`);
    expect(readFileSync(join(copy, 'dovecot-keywords'), 'utf8')).toBe('0 $Junk\n1 $Forwarded\n');
    // The source is untouched.
    expect(readFileSync(join(source, 'cur', `${one}:2,Pab`), 'utf8')).toBe(text);
  });

  it('adds a new folder with the source’s UIDVALIDITY and subscriptions, and refuses a link', async () => {
    writeFileSync(join(copy, 'dovecot-uidlist'), uidlist(5, []));
    const f = await follow();
    const sent = join(source, '.Sent');
    folder(sent);
    writeFileSync(join(sent, 'maildirfolder'), '');
    const one = put(sent, 1);
    symlinkSync('/etc/passwd', join(sent, 'cur', `${base(2, 'x')}:2,`));
    writeFileSync(
      join(sent, 'dovecot-uidlist'),
      uidlist(1234, [
        [1, one],
        [2, base(2, 'x')],
      ]),
    );
    writeFileSync(join(source, 'subscriptions'), 'V\t2\n\nINBOX\nSent\n');
    await f.pass();
    expect(added).toEqual([['.Sent', [1]]]);
    expect(problems).toEqual([expect.stringMatching(/\.Sent: UID 2 not served: .*link/i)]);
    expect(readFileSync(join(copy, '.Sent', 'dovecot-uidlist'), 'utf8')).toBe(`3 V1234 N2\n1 :${one}\n`);
    expect(readFileSync(join(copy, 'subscriptions'), 'utf8')).toBe('V\t2\n\nINBOX\nSent\n');
    expect(statSync(join(copy, '.Sent', 'maildirfolder')).isFile()).toBe(true);
    expect(readdirSync(join(copy, 'tmp'))).toEqual([]);
  });
});
