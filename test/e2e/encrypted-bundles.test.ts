// Encrypted bundles as a user meets them, each step a `mail-archiver` process: keygen (with a paper key whose QR
// code scans back), verify / serve / restore with --identity or a passphrase, the age CLI on both sides, and a
// plain-words answer for a wrong key, a cut-off or altered file and a hostile bundle inside the encryption.
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  createReadStream,
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import jsQR from 'jsqr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DovecotServer, startDovecot } from '../../cli/local/dovecot';
import { FileRawMailStore } from '../../shared/adapters/file-store';
import { MemoryMailIndex } from '../../shared/adapters/memory-index';
import { archiveReceivedMail } from '../../shared/archive/ingest';
import { type BundleEncryption, encryptingStream } from '../../shared/bundle/age';
import { exportMailbox } from '../../shared/bundle/export';
import { exampleConfig } from '../support/config';
import { readEntries, writeBundle } from '../support/hostile-bundles';
import { readOverImap } from '../support/imap';
import { makeMessage } from '../support/messages';
import { receiveLikeSes } from '../support/ses';

const BIN = resolve(import.meta.dirname, '../../cli/bin.js');
const MAILBOX = 'alice@example.com';
const PASSPHRASE = 'harbor-velvet-ninety-quartz';
const hasAge = spawnSync('age', ['--version']).status === 0;
const hasDovecot = spawnSync('/usr/sbin/dovecot', ['--version']).status === 0;
if (!hasAge)
  console.warn('SKIPPED: age CLI cases: install Debian package "age" (scripts/install-system-deps.sh)');
if (!hasDovecot) console.warn('SKIPPED: serve and restore cases: install Debian package "dovecot-imapd"');

let dir: string;
let temp: string;
const stored = new Set<string>();
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const path = (name: string) => join(dir, name);
const servers: DovecotServer[] = [];

interface Run {
  stdout: string;
  stderr: string;
  code: number | null;
}

function cli(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((done) =>
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: dir, env: envFor(extra), maxBuffer: 64 << 20 },
      (error, stdout, stderr) =>
        done({ stdout, stderr, code: error ? ((error as { code?: number }).code ?? null) : 0 }),
    ),
  );
}

const envFor = (extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({
  ...process.env,
  MAIL_ARCHIVER_HOME: path('home'),
  TMPDIR: temp,
  CI: 'true',
  NO_COLOR: '1',
  ...extra,
});

async function exportTo(name: string, encryption?: BundleEncryption) {
  await exportMailbox(
    { index, store },
    {
      mailbox: MAILBOX,
      format: 'maildir',
      ...(encryption ? { encryption } : {}),
      now: new Date('2026-05-01T00:00:00Z'),
    },
    createWriteStream(path(name)),
  );
  return path(name);
}

let index: MemoryMailIndex;
let store: FileRawMailStore;
let recipientA = '';
let recipientB = '';
let paperOutput = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mail-archiver-encrypted-'));
  // serve's copy lives under TMPDIR (here, inside dir): as root, Dovecot runs as its own user and must pass through.
  chmodSync(dir, 0o755);
  temp = path('tmp');
  mkdirSync(temp);
  store = new FileRawMailStore(path('store'));
  index = new MemoryMailIndex();
  const config = exampleConfig();
  let at = Date.parse('2026-04-01T10:00:00Z');
  // Random bodies: gzip cannot shrink them, so the bundle spans many 64 KiB age chunks.
  for (let i = 0; i < 4; i++) {
    at += 3_600_000;
    const body = randomBytes(150_000).toString('base64').replace(/.{76}/g, '$&\n');
    const raw = makeMessage({ subject: `message ${i}`, to: MAILBOX, body });
    const { notification } = await receiveLikeSes(store, 'raw', raw, {
      recipients: [MAILBOX],
      timestamp: new Date(at),
    });
    await archiveReceivedMail(notification, { config, store, index });
  }
  // What the archive stored (SES's own header lines on top): the bytes every reader must give back.
  for (const row of index.rows.values()) stored.add(row.sha256);
  const a = await cli(['keygen', '--out', 'a.txt']);
  const b = await cli(['keygen', '--out', 'b.txt', '--paper']);
  recipientA = a.stdout.split('\n')[0] ?? '';
  recipientB = b.stdout.split('\n')[0] ?? '';
  paperOutput = b.stdout;
  await exportTo('two.tar.gz.age', { recipients: [recipientA, recipientB] });
  await exportTo('pass.tar.gz.age', { passphrase: PASSPHRASE, workFactor: 10 });
  await exportTo('plain.tar.gz');
}, 120_000);

afterAll(async () => {
  for (const server of servers) await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The QR code keygen --paper prints (half-block characters, two modules a character), read back by jsQR. */
function scanQr(text: string): string | undefined {
  const rows = text.split('\n').filter((line) => /^[ █▀▄]+$/.test(line) && /[█▀▄]/.test(line));
  const width = Math.max(...rows.map((r) => [...r].length));
  const scale = 4;
  const pixels: boolean[][] = [];
  for (const row of rows) {
    const chars = [...row.padEnd(width, ' ')];
    pixels.push(chars.map((c) => c === '█' || c === '▀'));
    pixels.push(chars.map((c) => c === '█' || c === '▄'));
  }
  const margin = 4;
  const w = (width + 2 * margin) * scale;
  const h = (pixels.length + 2 * margin) * scale;
  const data = new Uint8ClampedArray(w * h * 4).fill(255);
  for (const [y, line] of pixels.entries())
    for (const [x, dark] of line.entries()) {
      if (!dark) continue;
      for (let dy = 0; dy < scale; dy++)
        for (let dx = 0; dx < scale; dx++) {
          const at = (((y + margin) * scale + dy) * w + (x + margin) * scale + dx) * 4;
          data.fill(0, at, at + 3);
        }
    }
  return jsQR(data, w, h, { inversionAttempts: 'dontInvert' })?.data;
}

describe('keygen', { timeout: 120_000 }, () => {
  it('writes the identity 0600 and prints its recipient; --paper prints it as text and a QR code that scans back', () => {
    const file = readFileSync(path('b.txt'), 'utf8');
    expect(statSync(path('b.txt')).mode & 0o777).toBe(0o600);
    expect(recipientB).toMatch(/^age1[a-z0-9]{58}$/);
    expect(file).toContain(`# public key: ${recipientB}\n`);
    const identity = file.match(/^AGE-SECRET-KEY-1\S+$/m)?.[0];
    expect(paperOutput).toContain(`\n${identity}\n`);
    expect(scanQr(paperOutput)).toBe(identity);
  });

  it('never overwrites a key', async () => {
    const before = readFileSync(path('a.txt'), 'utf8');
    const run = await cli(['keygen', '--out', 'a.txt']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('a.txt already exists: a key is never overwritten');
    expect(readFileSync(path('a.txt'), 'utf8')).toBe(before);
  });
});

// Each case runs the CLI several times: seconds each on a loaded machine.
describe('verify of an encrypted bundle', { timeout: 240_000 }, () => {
  it('opens a bundle for two recipients with either identity, and checks every message', async () => {
    for (const key of ['a.txt', 'b.txt']) {
      const run = await cli(['verify', '--identity', key, 'two.tar.gz.age']);
      expect(run.stderr).toBe('');
      expect(run.stdout).toBe('two.tar.gz.age: OK, 4 messages match the manifest and the maildir rules\n');
    }
  });

  it('opens a passphrase bundle with the passphrase, and says so when it is wrong or an identity is given', async () => {
    const ok = await cli(['verify', 'pass.tar.gz.age'], { MAIL_ARCHIVER_BUNDLE_PASSPHRASE: PASSPHRASE });
    expect(ok.stdout).toMatch(/OK, 4 messages/);
    const wrong = await cli(['verify', 'pass.tar.gz.age'], { MAIL_ARCHIVER_BUNDLE_PASSPHRASE: 'nope' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toBe('mail-archiver: pass.tar.gz.age: the passphrase does not open this bundle\n');
    const identity = await cli(['verify', '--identity', 'a.txt', 'pass.tar.gz.age']);
    expect(identity.stderr).toMatch(
      /^mail-archiver: pass\.tar\.gz\.age: this bundle is encrypted with a passphrase, not to a recipient: an identity file cannot open it/,
    );
  });

  it('names a wrong key in plain words: no identity matched, for how many recipients of which type', async () => {
    await cli(['keygen', '--out', 'other.txt']);
    const run = await cli(['verify', '--identity', 'other.txt', 'two.tar.gz.age']);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      'mail-archiver: two.tar.gz.age: no identity matched; the bundle is for 2 recipients of type X25519 (tried 1 identity from other.txt)\n',
    );
    const none = await cli(['verify', 'two.tar.gz.age']);
    expect(none.stderr).toMatch(
      /the bundle is encrypted for 2 recipients of type X25519: give the identity file/,
    );
  });

  it('tells a cut-off file (truncated after N MiB intact) and an altered one, wherever it is cut', async () => {
    const whole = readFileSync(path('two.tar.gz.age'));
    const headerEnd = whole.indexOf('\n', whole.indexOf('\n---') + 1) + 1;
    const answers: string[] = [];
    for (const cut of [
      50,
      headerEnd + 10,
      Math.floor(whole.length / 3),
      whole.length - 20_000,
      whole.length - 1,
    ]) {
      writeFileSync(path('cut.tar.gz.age'), whole.subarray(0, cut));
      const run = await cli(['verify', '--identity', 'a.txt', 'cut.tar.gz.age']);
      expect(run.code, `cut at ${cut}`).toBe(1);
      expect(run.stderr + run.stdout, `cut at ${cut}`).not.toMatch(/\n\s+at /); // no stack trace
      answers.push((run.stderr + run.stdout).trim());
    }
    expect(answers[0]).toMatch(/truncated in its age header \(the file ends after 50 bytes/);
    expect(answers[1]).toMatch(/truncated after 0\.0 MiB intact/);
    for (const answer of answers.slice(2))
      expect(answer).toMatch(
        /cannot read the bundle: truncated after \d+\.\d MiB intact: the encrypted bundle ends/,
      );
    const altered = Buffer.from(whole);
    const at = headerEnd + 16 + 2 * 65552 + 5;
    altered[at] = (altered[at] ?? 0) ^ 0x40;
    writeFileSync(path('altered.tar.gz.age'), altered);
    const run = await cli(['verify', '--identity', 'a.txt', 'altered.tar.gz.age']);
    expect(run.stdout).toMatch(
      /cannot read the bundle: damaged after 0\.1 MiB intact: a chunk of the encrypted data fails/,
    );
  });

  it('applies the same hostile-input checks inside the encryption as to a plain bundle', async () => {
    const entries = await readEntries(path('plain.tar.gz'));
    entries.splice(3, 0, {
      header: { name: 'Maildir/cur/creds', type: 'symlink', linkname: '/root/.aws/credentials', mode: 0o777 },
      body: Buffer.alloc(0),
    });
    await writeBundle(path('hostile.tar.gz'), entries);
    const encryptor = await encryptingStream({ recipients: [recipientA] });
    await pipeline(
      createReadStream(path('hostile.tar.gz')),
      encryptor,
      createWriteStream(path('hostile.tar.gz.age')),
    );
    const plain = await cli(['verify', 'hostile.tar.gz']);
    const encrypted = await cli(['verify', '--identity', 'a.txt', 'hostile.tar.gz.age']);
    expect(plain.code).toBe(1);
    expect(encrypted.code).toBe(1);
    expect(plain.stdout).toMatch(/symbolic link/);
    expect(encrypted.stdout.replace('hostile.tar.gz.age', 'hostile.tar.gz')).toBe(plain.stdout);
  });
});

describe.skipIf(!hasAge)('the age CLI (Debian package "age")', { timeout: 120_000 }, () => {
  it('decrypts our export with a key keygen wrote, into a bundle verify accepts', async () => {
    execFileSync('age', ['-d', '-i', path('b.txt'), '-o', path('by-age.tar.gz'), path('two.tar.gz.age')]);
    expect((await cli(['verify', 'by-age.tar.gz'])).stdout).toMatch(/OK, 4 messages/);
  });

  it('encrypts a bundle that verify opens with our identity', async () => {
    execFileSync('age', ['-r', recipientA, '-o', path('from-age.tar.gz.age'), path('plain.tar.gz')]);
    const run = await cli(['verify', '--identity', 'a.txt', 'from-age.tar.gz.age']);
    expect(run.stdout).toMatch(/OK, 4 messages/);
  });
});

// A CLI process takes seconds to start on a loaded machine; serve and restore each read the bundle twice.
describe.skipIf(!hasDovecot)('serve and restore of an encrypted bundle', { timeout: 240_000 }, () => {
  it('serves it over IMAP byte for byte, with no plaintext bundle on disk', async () => {
    const child = spawn(
      process.execPath,
      [BIN, '--json', 'serve', '--port', '0', '--identity', 'a.txt', 'two.tar.gz.age'],
      {
        cwd: dir,
        env: envFor({}),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    try {
      const credentials = await new Promise<{ host: string; port: number; user: string; password: string }>(
        (resolveCredentials, reject) => {
          let stdout = '';
          let stderr = '';
          child.stdout.on('data', (d: Buffer) => {
            stdout += d;
            const line = stdout.split('\n').find((l, i, all) => l.startsWith('{') && i < all.length - 1);
            if (line) resolveCredentials(JSON.parse(line));
          });
          child.stderr.on('data', (d: Buffer) => {
            stderr += d;
          });
          child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
        },
      );
      const served = await readOverImap({ ...credentials } as DovecotServer);
      const sources = [...served.byFolder.values()].flatMap((f) => f.messages.map((m) => m.source));
      expect(sources.map(sha).sort()).toEqual([...stored].sort());
      // What serve has on disk: the unpacked maildir, and no bundle, plain or encrypted.
      const files = readdirSync(temp, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
      expect(files.length).toBeGreaterThan(0);
      for (const file of files) {
        expect(file.name).not.toMatch(/\.tar|\.gz|\.age/);
        const head = readFileSync(join(file.parentPath, file.name)).subarray(0, 2);
        expect(head.equals(Buffer.from([0x1f, 0x8b])), file.name).toBe(false);
      }
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });

  it('restores it into an IMAP server, every message verified', async () => {
    const maildir = path('target/Maildir');
    mkdirSync(maildir, { recursive: true });
    const server = await startDovecot({ maildir, workDir: path('target/dovecot'), index: 'disk' });
    servers.push(server);
    const run = await cli(
      [
        'restore',
        '--identity',
        'b.txt',
        'two.tar.gz.age',
        '--imap',
        `imap://${server.user}@${server.host}:${server.port}`,
      ],
      { MAIL_ARCHIVER_IMAP_PASSWORD: server.password },
    );
    expect(run.stderr).not.toMatch(/Error/);
    expect(run.stdout).toMatch(/4 messages: moved 4, already there 0, refused 0, verified 4/);
    expect(run.code).toBe(0);
    const back = await readOverImap(server);
    const sources = [...back.byFolder.values()].flatMap((f) => f.messages.map((m) => m.source));
    expect(sources.map(sha).sort()).toEqual([...stored].sort());
  });
});
