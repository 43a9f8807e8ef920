// Bundles from anywhere: every hostile bundle below is rejected by `verify` with its reason, refused by `serve`
// (its staging, and the `serve` command itself), and unpacking it even without `verify` writes nothing but
// regular files and directories, and nothing outside the directory it unpacks into.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  createReadStream,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stageMaildir } from '../../cli/local/stage-maildir';
import { auditTree, extractBundle, UnsafeBundleError } from '../../shared/bundle/extract';
import { verifyBundle } from '../../shared/bundle/verify';
import {
  firstMessage,
  goodBundle,
  type PackedEntry,
  readEntries,
  writeBundle,
} from '../support/hostile-bundles';

const ROOT = resolve(import.meta.dirname, '../..');
let work: string;
let good: string;
let entries: PackedEntry[];
/** Where an escaping entry would land: must stay empty. */
let canary: string;
/** A file outside the bundle that links point at: must stay unchanged and unserved. */
let secret: string;
const SECRET = 'aws_secret_access_key = not-for-you\n';

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'mail-archiver-hostile-bundles-'));
  canary = join(work, 'canary');
  mkdirSync(canary);
  secret = join(work, 'credentials');
  writeFileSync(secret, SECRET, { mode: 0o600 });
  good = await goodBundle(join(work, 'good'));
  entries = await readEntries(good);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const MiB = 1024 * 1024;
const with_ = (change: (list: PackedEntry[]) => PackedEntry[]) => () =>
  change(entries.map((e) => ({ ...e })));
const replaceFirstMessage = (header: Partial<PackedEntry['header']>, body: Buffer = Buffer.alloc(0)) =>
  with_((list) => {
    const first = firstMessage(list);
    return list.map((e) => (e === first ? { header: { ...e.header, ...header }, body } : e));
  });
const adding = (...extra: PackedEntry[]) =>
  with_((list) => [...list.slice(0, 2), ...extra, ...list.slice(2)]);
const manifest = (body: PackedEntry['body']) =>
  with_((list) => list.map((e) => (e.header.name === 'manifest.json' ? { header: e.header, body } : e)));

interface HostileCase {
  build: () => PackedEntry[];
  reason: RegExp;
  /** False for what only the manifest check sees (unpacking alone writes harmless files). */
  unpackRefuses?: boolean;
}

const cases: Record<string, HostileCase> = {
  'a message that is a symbolic link out of the bundle': {
    build: () => replaceFirstMessage({ type: 'symlink', linkname: secret, size: 0 })(),
    reason: /"Maildir\/cur\/[^"]+": a symbolic link to ".*credentials"/,
  },
  'a message that is a hard link to an absolute path': {
    build: () => replaceFirstMessage({ type: 'link', linkname: secret, size: 0 })(),
    reason: /"Maildir\/cur\/[^"]+": a hard link to ".*credentials"/,
  },
  'a hard link to another entry of the bundle': {
    build: () =>
      adding({
        header: { name: 'Maildir/cur/twin', type: 'link', linkname: 'manifest.json' },
        body: Buffer.alloc(0),
      })(),
    reason: /"Maildir\/cur\/twin": a hard link to "manifest.json"/,
  },
  'a character device': {
    build: () =>
      adding({
        header: { name: 'Maildir/cur/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
        body: Buffer.alloc(0),
      })(),
    reason: /"Maildir\/cur\/null": a character device/,
  },
  'a block device': {
    build: () =>
      adding({
        header: { name: 'Maildir/sda', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o600 },
        body: Buffer.alloc(0),
      })(),
    reason: /"Maildir\/sda": a block device/,
  },
  'a FIFO': {
    build: () =>
      adding({ header: { name: 'Maildir/new/pipe', type: 'fifo', mode: 0o600 }, body: Buffer.alloc(0) })(),
    reason: /"Maildir\/new\/pipe": a FIFO/,
  },
  'a regular file carrying a link name': {
    build: () =>
      adding({
        header: { name: 'Maildir/cur/named', linkname: '/etc/shadow', mode: 0o600 },
        body: Buffer.from('x'),
      })(),
    reason: /linkpath forbidden/,
  },
  'a setuid file': {
    build: () =>
      adding({ header: { name: 'Maildir/run-me', mode: 0o4755 }, body: Buffer.from('#!/bin/sh\n') })(),
    reason: /"Maildir\/run-me": setuid mode 04755/,
  },
  'a setgid directory': {
    build: () =>
      adding({
        header: { name: 'Maildir/.Shared/', type: 'directory', mode: 0o2700 },
        body: Buffer.alloc(0),
      })(),
    reason: /"Maildir\/.Shared\/": setgid mode 02700/,
  },
  'a 0777 directory': {
    build: () =>
      adding({ header: { name: 'Maildir/.Open/', type: 'directory', mode: 0o777 }, body: Buffer.alloc(0) })(),
    reason: /"Maildir\/.Open\/": world-writable mode 0777/,
  },
  'a name climbing out with ../': {
    build: () =>
      adding({
        header: { name: `${'../'.repeat(12)}${canary.slice(1)}/escape`, mode: 0o600 },
        body: Buffer.from('escaped'),
      })(),
    reason: /a name that climbs out of the bundle/,
  },
  'an absolute name': {
    build: () =>
      adding({ header: { name: `${canary}/absolute`, mode: 0o600 }, body: Buffer.from('escaped') })(),
    reason: /an absolute name/,
  },
  'a 2 MiB extended (pax) header': {
    build: () =>
      adding({
        header: { name: `Maildir/cur/${'a'.repeat(2 * MiB)}`, mode: 0o600 },
        body: Buffer.from('x'),
      })(),
    reason: /an extended header of \d+ bytes, over the 1048576-byte limit/,
  },
  'a name with terminal control characters': {
    build: () =>
      adding({ header: { name: 'Maildir/cur/evil\u001b[2Jname', mode: 0o600 }, body: Buffer.from('x') })(),
    reason: /a control character in the name/,
  },
  'a manifest bomb (130 MiB of manifest.json)': {
    build: () =>
      manifest(async function* () {
        const chunk = Buffer.alloc(MiB, 0x20);
        for (let i = 0; i < 130; i++) yield chunk;
      })().map((e) =>
        e.header.name === 'manifest.json' ? { ...e, header: { ...e.header, size: 130 * MiB } } : e,
      ),
    reason: /"manifest.json": 136314880 bytes, over the 134217728-byte limit/,
  },
  'an oversized uidlist': {
    build: () =>
      adding({
        header: { name: 'Maildir/.Big/dovecot-uidlist', size: 65 * MiB, mode: 0o600 },
        body: async function* () {
          const chunk = Buffer.alloc(MiB, 0x31);
          for (let i = 0; i < 65; i++) yield chunk;
        },
      })(),
    reason: /"Maildir\/.Big\/dovecot-uidlist": 68157440 bytes, over the 67108864-byte limit/,
  },
  'a malformed manifest': {
    build: () =>
      manifest(
        Buffer.from(
          JSON.stringify({
            format: 'mail-archiver-bundle',
            version: 1,
            bundleFormat: 'maildir',
            mailbox: 'alice@example.com',
            createdAt: '2024-05-01T00:00:00Z',
            incremental: false,
            folders: 'INBOX',
            messages: [{ uid: '7' }],
          }),
        ),
      )(),
    reason:
      /manifest.json folders: Invalid input: expected array[\s\S]*manifest.json messages.0.uid: Invalid input: expected number/,
    unpackRefuses: false,
  },
  'a manifest that is not JSON': {
    build: () => manifest(Buffer.from('{"format": "mail-archiver-bundle", '))(),
    reason: /manifest.json is not valid JSON/,
    unpackRefuses: false,
  },
};

function listTree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).map((d) => join(d.parentPath, d.name));
}

function assertNothingEscaped() {
  expect(readdirSync(canary)).toEqual([]);
  expect(readFileSync(secret, 'utf8')).toBe(SECRET);
  expect(statSync(secret).mode & 0o7777).toBe(0o600);
  expect(statSync(secret).nlink).toBe(1);
}

describe('hostile bundles', () => {
  it('the good bundle they are made from verifies, stages and serves', async () => {
    const report = await verifyBundle(createReadStream(good));
    expect(report.errors).toEqual([]);
    expect(report.messages).toBe(3);
    const repacked = await writeBundle(join(work, 'repacked.tar.gz'), await readEntries(good));
    expect((await verifyBundle(createReadStream(repacked))).errors).toEqual([]);
    const stage = mkdtempSync(join(work, 'stage-'));
    const maildir = await stageMaildir(repacked, stage);
    expect(readdirSync(join(maildir, 'cur'))).toHaveLength(3);
    // Private, and the messages keep their received date as mtime.
    expect(statSync(maildir).mode & 0o777).toBe(0o700);
    const first = firstMessage(entries);
    const file = join(stage, 'bundle', first.header.name);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(Math.floor(statSync(file).mtimeMs / 1000)).toBe(
      Math.floor((first.header.mtime as Date).getTime() / 1000),
    );
  });

  for (const [name, hostile] of Object.entries(cases)) {
    describe(name, () => {
      let bundle: string;
      beforeAll(async () => {
        bundle = await writeBundle(join(work, `${name.replace(/\W+/g, '-')}.tar.gz`), hostile.build());
      });

      it('verify rejects it and says why', async () => {
        const report = await verifyBundle(createReadStream(bundle));
        expect(report.ok).toBe(false);
        expect(report.errors.join('\n')).toMatch(hostile.reason);
        assertNothingEscaped();
      });

      it('serve refuses it before writing anything', async () => {
        const stage = mkdtempSync(join(work, 'stage-'));
        const refused = await stageMaildir(bundle, stage).catch((e: Error) => e);
        expect(refused).toBeInstanceOf(UnsafeBundleError);
        expect((refused as Error).message).toMatch(hostile.reason);
        expect(listTree(join(stage, 'bundle'))).toEqual([]);
        assertNothingEscaped();
      });

      it('unpacking it without verify still writes only regular files and directories, inside', async () => {
        const into = mkdtempSync(join(work, 'unpack-'));
        const outcome = await extractBundle(bundle, join(into, 'tree')).then(
          () => undefined,
          (e: Error) => e,
        );
        if (hostile.unpackRefuses === false) expect(outcome).toBeUndefined();
        else expect(outcome).toBeInstanceOf(UnsafeBundleError);
        expect(await auditTree(join(into, 'tree'))).toEqual([]);
        for (const path of listTree(into)) {
          const mode = statSync(path).mode & 0o7777;
          expect(mode === 0o600 || mode === 0o700, `${path} ${mode.toString(8)}`).toBe(true);
        }
        assertNothingEscaped();
      });
    });
  }

  it('the serve command exits with the reasons and serves nothing', () => {
    const bundle = join(
      work,
      `${'a message that is a symbolic link out of the bundle'.replace(/\W+/g, '-')}.tar.gz`,
    );
    const run = spawnSync(process.execPath, [join(ROOT, 'cli/bin.js'), 'serve', bundle, '--port', '0'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/is refused: [\s\S]*a symbolic link to ".*credentials"/);
    expect(run.stdout).not.toMatch(/password/);
    assertNothingEscaped();
  });
});

describe('a damaged bundle given to serve', () => {
  it('is refused as failing verify, in plain words: no error class, no "unsafe entry"', () => {
    const whole = readFileSync(good);
    const cut = join(work, 'cut-off.tar.gz');
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
    const run = spawnSync(process.execPath, [join(ROOT, 'cli/bin.js'), 'serve', cut, '--port', '0'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(
      /cut-off.tar.gz is refused: it fails the checks of "verify" \(1 problem\)\n\s+verify: cannot read the bundle: truncated gzip file/,
    );
    expect(run.stderr).not.toMatch(/UnsafeBundleError|unsafe entr/);
    expect(run.stdout).not.toMatch(/password/);
  });
});

describe('hostile maildir directories', () => {
  // Real file system objects, as a user's download or an old restore might hold them.
  const plant: Record<string, (maildir: string) => void> = {
    'a symbolic link to a file outside': (m) => symlinkSync(secret, join(m, 'cur', '1.link.host:2,S')),
    'a hard link to a file outside': (m) => linkSync(secret, join(m, 'cur', '1.hard.host:2,S')),
    'a character device': (m) => execFileSync('mknod', [join(m, 'cur', 'null'), 'c', '1', '3']),
    'a FIFO': (m) => execFileSync('mkfifo', [join(m, 'new', 'pipe')]),
    'a setuid file': (m) => {
      writeFileSync(join(m, 'run-me'), '#!/bin/sh\n');
      chmodSync(join(m, 'run-me'), 0o4755);
    },
    'a 0777 directory': (m) => {
      mkdirSync(join(m, '.Open'));
      chmodSync(join(m, '.Open'), 0o777);
    },
  };
  const reasons: Record<string, RegExp> = {
    'a symbolic link to a file outside': /a symbolic link/,
    'a hard link to a file outside': /a hard link/,
    'a character device': /a character device/,
    'a FIFO': /a FIFO/,
    'a setuid file': /setuid mode 04755/,
    'a 0777 directory': /world-writable mode 0777/,
  };
  const canMknod = process.getuid?.() === 0;

  for (const [name, make] of Object.entries(plant)) {
    it.skipIf(name === 'a character device' && !canMknod)(
      `serve refuses a maildir holding ${name}`,
      async () => {
        const source = mkdtempSync(join(work, 'dir-source-'));
        await extractBundle(good, source);
        make(join(source, 'Maildir'));
        const stage = mkdtempSync(join(work, 'stage-'));
        const refused = await stageMaildir(source, stage).catch((e: Error) => e);
        expect(refused).toBeInstanceOf(UnsafeBundleError);
        expect((refused as Error).message).toMatch(reasons[name] as RegExp);
        expect(listTree(join(stage, 'bundle'))).toEqual([]);
        // (A planted hard link is the secret's second name until the source goes.)
        rmSync(source, { recursive: true, force: true });
        assertNothingEscaped();
      },
    );
  }
});
