// The transparency log end to end on the local stack, through the command line a user has: real mail over SMTP,
// `seal --out`, `export`, then `verify --checkpoint --key` on the bundle file and on the unpacked bundle. The
// attacks the log exists for are made here with real files: a byte flipped in a message, the same flip with the
// manifest rewritten to match (only the log can tell), a checkpoint of another root signed with the log's own key
// (a rewritten history), a checkpoint signed by another key, and mail delivered after the last seal. A replica
// (`sync`) carries a copy of the log and is proven complete: a message deleted from it is named as missing; with a
// timestamp authority (OpenSSL's), the replica's copy of the time-stamp is checked by `verify --tsa-ca`.
import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { createTransport } from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logSigningKeyPath } from '../../cli/local/log-signing-key';
import { type RunningLocalStack, startLocalStack } from '../../cli/local/stack';
import { httpTimestampAuthority } from '../../shared/adapters/tsa-client';
import { signCheckpoint } from '../../shared/transparency/checkpoint';
import { formatVerifierKey, KeyFileSigner } from '../../shared/transparency/note';
import { timestampRequest } from '../../shared/transparency/timestamp';
import { exampleConfig } from '../support/config';
import { corporaPresent, corporaSkipReason, corpusMessages, corpusName } from '../support/corpora';
import { makeMessage } from '../support/messages';
import { hasOpenssl, startOpensslTsa } from '../support/openssl-tsa';

const run = promisify(execFile);
const opensslPresent = await hasOpenssl();
const unsharePresent = await run('unshare', ['-rn', 'true']).then(
  () => true,
  () => false,
);
if (!unsharePresent)
  console.warn('SKIPPED: the offline verify case needs unshare -rn (util-linux, user namespaces enabled)');
if (!opensslPresent)
  console.warn('SKIPPED: the RFC 3161 replica case needs the openssl binary (Debian package openssl)');
const ROOT = resolve(import.meta.dirname, '../..');
const config = exampleConfig();
const MAILBOX = 'alice@example.com';
let home: string;
let work: string;
let stack: RunningLocalStack | undefined;

async function cli(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run('node', [join(ROOT, 'cli/bin.js'), ...args], {
      cwd: ROOT,
      env: { ...process.env, MAIL_ARCHIVER_HOME: home, CI: 'true', NO_COLOR: '1' },
      maxBuffer: 64 * 1024 * 1024,
    });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const e = error as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

/** Real third-party messages when the corpora are here (a few), else hand-written ones (said so). */
function messagesToSend(): Buffer[] {
  if (!corporaPresent) {
    console.warn(`${corporaSkipReason}: sending hand-written messages instead`);
    return [1, 2, 3, 4].map((i) => makeMessage({ subject: `hand-written ${i}` }));
  }
  const files = corpusMessages()
    .filter((f) => statSync(f).size < 200_000)
    .slice(0, 6);
  console.info(`sending ${files.map(corpusName).join(', ')}`);
  return files.map((f) => readFileSync(f));
}

async function send(raw: Buffer): Promise<void> {
  if (!stack) throw new Error('stack not running');
  await createTransport({
    host: stack.smtp.host,
    port: stack.smtp.port,
    secure: false,
    ignoreTLS: true,
  }).sendMail({
    envelope: { from: 'ann@sender.example.org', to: [MAILBOX] },
    raw,
  });
}

async function archived(): Promise<number> {
  const { stdout, code, stderr } = await cli(['list', MAILBOX, '--json']);
  expect(code, stderr).toBe(0);
  return stdout.split('\n').filter(Boolean).length;
}

async function sealTo(dir: string): Promise<{ size: number; previousSize: number }> {
  const { stdout, stderr, code } = await cli(['--json', 'seal', '--out', dir]);
  expect(code, stderr).toBe(0);
  return JSON.parse(stdout.trim().split('\n').at(-1) as string);
}

async function verify(bundle: string, ...args: string[]) {
  const result = await cli(['--json', 'verify', bundle, ...args]);
  const report = JSON.parse(result.stdout.trim().split('\n').at(-1) as string) as {
    ok: boolean;
    errors: string[];
    transparency?: { proven: number; treeSize: number };
  };
  return { ...result, report };
}

/** The witness mails in the local sink (to the alarm address, holding a checkpoint), oldest first. */
function witnessMails(): { path: string; size: number }[] {
  const sink = join(home, 'sink');
  return readdirSync(sink)
    .filter((name) => name.endsWith('.eml'))
    .sort()
    .flatMap((name) => {
      const text = readFileSync(join(sink, name), 'utf8');
      const envelope = JSON.parse(readFileSync(join(sink, name.replace(/\.eml$/, '.json')), 'utf8'));
      const match = /-----BEGIN CHECKPOINT-----\r?\n[^\n]*\n(\d+)\r?\n/.exec(text);
      return match && envelope.to === config.alarmEmail
        ? [{ path: join(sink, name), size: Number(match[1]) }]
        : [];
    });
}

const trust = (dir: string) => ['--checkpoint', join(dir, 'checkpoint'), '--key', join(dir, 'key.pub')];

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'mail-archiver-transparency-'));
  work = join(home, 'work');
  mkdirSync(work);
  stack = await startLocalStack(config, { home, smtpPort: 0 });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(home, { recursive: true, force: true });
});

describe('the transparency log on the local stack', () => {
  const first = () => join(work, 'first');
  const second = () => join(work, 'second');
  let sent = 0;

  it('seals what was archived: checkpoint and key written, the key file private, a second seal grows the tree', async () => {
    const messages = messagesToSend();
    for (const raw of messages.slice(0, 3)) await send(raw);
    sent = 3;
    await expect.poll(archived, { timeout: 30_000, interval: 500 }).toBe(sent);
    const one = await sealTo(first());
    expect(one).toMatchObject({ previousSize: 0, size: 3 });
    expect(readFileSync(join(first(), 'key.pub'), 'utf8')).toMatch(
      /^example\.com\/mail-archiver\/[^+]+\/local\+[0-9a-f]{8}\+[A-Za-z0-9+/]+=*\n$/,
    );
    expect(statSync(logSigningKeyPath(home)).mode & 0o777).toBe(0o600);

    for (const raw of messages.slice(3)) await send(raw);
    sent = messages.length;
    await expect.poll(archived, { timeout: 30_000, interval: 500 }).toBe(sent);
    const two = await sealTo(second());
    expect(two).toMatchObject({ previousSize: 3, size: sent });
    // The witness: each checkpoint that grew the tree was mailed to the alarm address (the local sink keeps it).
    expect(witnessMails().map((m) => m.size)).toEqual([3, sent]);
    // Sealing an unchanged log writes the same checkpoint again (a no-op for the write-once store), mailed once.
    const again = await sealTo(join(work, 'again'));
    expect(again).toMatchObject({ previousSize: sent, size: sent });
    expect(witnessMails()).toHaveLength(2);
    expect(readFileSync(join(work, 'again', 'checkpoint'))).toEqual(
      readFileSync(join(second(), 'checkpoint')),
    );
  }, 180_000);

  it('a bundle proves every message against the checkpoint kept, the older one and its own', async () => {
    const bundle = join(work, 'alice.tar.gz');
    const exported = await cli(['export', MAILBOX, '--out', bundle]);
    expect(exported.code, exported.stderr).toBe(0);
    const latest = await verify(bundle, ...trust(second()));
    expect(latest.code, latest.stdout + latest.stderr).toBe(0);
    expect(latest.report).toMatchObject({ ok: true, transparency: { proven: sent, treeSize: sent } });
    const withPrevious = await verify(bundle, ...trust(second()), '--previous', join(first(), 'checkpoint'));
    expect(withPrevious.report.errors).toEqual([]);
    const older = await verify(bundle, ...trust(first()));
    expect(older.report.errors).toEqual([]);
    // The mail the seal sent is a checkpoint file as it is.
    const mailed = witnessMails().at(-1)?.path as string;
    const fromMail = await verify(bundle, '--checkpoint', mailed, '--key', join(second(), 'key.pub'));
    expect(fromMail.report).toMatchObject({ ok: true, transparency: { treeSize: sent } });
    // The human line says what was proven.
    const plain = await cli(['verify', bundle, ...trust(second())]);
    expect(plain.stdout).toMatch(/in the transparency log of .*local, proven against its signed checkpoint/);
  }, 120_000);

  it('names the message whose byte was flipped, also when the manifest was rewritten to match it', async () => {
    const dir = join(work, 'unpacked');
    mkdirSync(dir);
    await run('tar', ['-xzf', join(work, 'alice.tar.gz'), '-C', dir]);
    const cur = join(dir, 'Maildir', 'cur');
    const name = readdirSync(cur).sort()[0] as string;
    const file = join(cur, name);
    const bytes = readFileSync(file);
    // A letter near the end (flipping its lowest bit keeps it a letter: no line ending made or lost).
    let at = bytes.length - 1;
    while (at > 0 && !/[A-Za-z]/.test(String.fromCharCode(bytes[at] as number))) at -= 1;
    bytes[at] = (bytes[at] as number) ^ 0x01;
    const { mtime } = statSync(file);
    writeFileSync(file, bytes);
    utimesSync(file, mtime, mtime);
    const flipped = await verify(dir, ...trust(second()));
    expect(flipped.code).toBe(1);
    expect(flipped.report.errors.join('\n')).toContain(name);

    // Whoever can change the bundle can change its manifest too: the manifest then agrees with the file, and
    // only the log still knows what was received.
    const manifestPath = join(dir, 'manifest.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
      messages: { file: string; sha256: string; folder: string; uid: number; storage: string }[];
    };
    const entry = manifest.messages.find((m) => m.file.endsWith(name));
    if (!entry) throw new Error(`no manifest entry for ${name}`);
    // The manifest's sha256 is of the bytes as received: a crlf-to-lf file with its LFs turned back into CRLF.
    const raw =
      entry.storage === 'crlf-to-lf'
        ? Buffer.from(bytes.toString('latin1').replace(/\n/g, '\r\n'), 'latin1')
        : bytes;
    entry.sha256 = createHash('sha256').update(raw).digest('hex');
    writeFileSync(manifestPath, JSON.stringify(manifest, null, 1));
    const rewritten = await verify(dir, ...trust(second()));
    expect(rewritten.code).toBe(1);
    expect(rewritten.report.errors).toEqual([
      expect.stringMatching(
        new RegExp(`^INBOX UID ${entry.uid}: the log recorded another delivery \\(sha256 [0-9a-f]{64}\\)$`),
      ),
    ]);
  }, 120_000);

  it('refuses a checkpoint of another root signed with the log key, and one signed by another key', async () => {
    const bundle = join(work, 'alice.tar.gz');
    const signer = KeyFileSigner.parse(readFileSync(logSigningKeyPath(home), 'utf8'));
    const origin = signer.verifier.name;
    // A rewritten history: the log's own key signs a tree of the first size with another root.
    const forged = await signCheckpoint({ origin, size: 3, root: Buffer.alloc(32, 7) }, signer);
    writeFileSync(join(work, 'forged'), forged);
    const rewritten = await verify(
      bundle,
      '--checkpoint',
      join(work, 'forged'),
      '--key',
      join(second(), 'key.pub'),
    );
    expect(rewritten.code).toBe(1);
    expect(rewritten.report.errors.join('\n')).toMatch(
      /tree of 3\) is not consistent with the bundle's checkpoint/,
    );

    // Another key under the same name signs the genuine checkpoint's text: refused.
    const stranger = new KeyFileSigner(origin, generateKeyPairSync('ed25519').privateKey);
    const genuineText = readFileSync(join(second(), 'checkpoint'), 'utf8').split('\n\n')[0] as string;
    const [, size, root] = genuineText.split('\n');
    const other = await signCheckpoint(
      { origin, size: Number(size), root: Buffer.from(root as string, 'base64') },
      stranger,
    );
    writeFileSync(join(work, 'other-key-checkpoint'), other);
    const refused = await verify(
      bundle,
      '--checkpoint',
      join(work, 'other-key-checkpoint'),
      '--key',
      join(second(), 'key.pub'),
    );
    expect(refused.code).toBe(1);
    expect(refused.report.errors.join('\n')).toMatch(/checkpoint given \(--checkpoint\)/);
    // The stranger's key, given as the log's, does not open the bundle's own checkpoint.
    writeFileSync(join(work, 'stranger.pub'), `${formatVerifierKey(stranger.verifier)}\n`);
    const strangerKey = await verify(
      bundle,
      '--checkpoint',
      join(work, 'other-key-checkpoint'),
      '--key',
      join(work, 'stranger.pub'),
    );
    expect(strangerKey.code).toBe(1);
    expect(strangerKey.report.errors.join('\n')).toMatch(/^transparency\/checkpoint: /m);
  }, 120_000);

  it('names mail that arrived after the last seal, until the next seal covers it', async () => {
    await send(makeMessage({ subject: 'after the seal' }));
    sent += 1;
    await expect.poll(archived, { timeout: 30_000, interval: 500 }).toBe(sent);
    const bundle = join(work, 'later.tar.gz');
    expect((await cli(['export', MAILBOX, '--out', bundle])).code).toBe(0);
    const unsealed = await verify(bundle, ...trust(second()));
    expect(unsealed.code).toBe(1);
    expect(unsealed.report.errors).toEqual([
      `INBOX UID ${sent}: not in the log at the checkpoint (tree of ${sent - 1}): not proven`,
    ]);
    const third = join(work, 'third');
    expect(await sealTo(third)).toMatchObject({ size: sent });
    const resealed = join(work, 'resealed.tar.gz');
    expect((await cli(['export', MAILBOX, '--out', resealed])).code).toBe(0);
    const proven = await verify(resealed, ...trust(third), '--previous', join(first(), 'checkpoint'));
    expect(proven.report).toMatchObject({ ok: true, transparency: { proven: sent, treeSize: sent } });
  }, 180_000);
  it('a replica (sync) keeps a copy of the log and is proven complete; a message deleted from it is named', async () => {
    const replica = join(work, 'replica');
    const synced = await cli(['--json', 'sync', replica, '--once']);
    expect(synced.code, synced.stdout + synced.stderr).toBe(0);
    const report = JSON.parse(synced.stdout.trim().split('\n').at(-1) as string);
    expect(report.transparency).toMatchObject({ state: 'grew', size: sent, from: 0 });
    // A first sync takes what is sealed from the log's entry bundles (sync.ts applySealed).
    expect(report.leaves).toBe(sent);
    const mailboxDir = join(replica, MAILBOX);
    const complete = await verify(
      mailboxDir,
      ...trust(join(work, 'third')),
      '--previous',
      join(first(), 'checkpoint'),
    );
    expect(complete.code, complete.stdout + complete.stderr).toBe(0);
    expect(complete.report).toMatchObject({
      ok: true,
      transparency: { proven: sent, treeSize: sent, replica: true, unsealed: 0 },
    });
    // An older checkpoint given: the replica is still proven complete up to its own newest one.
    expect((await verify(mailboxDir, ...trust(second()))).report.errors).toEqual([]);
    const human = await cli(['verify', mailboxDir, ...trust(second())]);
    expect(human.stdout).toMatch(
      /and it is complete: every delivery of alice@example\.com in the transparency log/,
    );

    // One message file deleted from the replica: named with its folder, UID and received time.
    const cur = join(mailboxDir, 'Maildir', 'cur');
    const victim = readdirSync(cur).sort()[1] as string;
    const uid = (
      JSON.parse(readFileSync(join(mailboxDir, 'manifest.json'), 'utf8')) as {
        messages: { file: string; uid: number; receivedAt: string }[];
      }
    ).messages.find((m) => m.file.endsWith(victim));
    rmSync(join(cur, victim));
    const missing = await verify(mailboxDir, ...trust(join(work, 'third')));
    expect(missing.code).toBe(1);
    expect(missing.report.errors).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^INBOX UID ${uid?.uid} \\(received ${uid?.receivedAt.replace(/[.]/g, '\\.')}, leaf \\d+\\): in the log but missing from the replica$`,
        ),
      ),
    );
  }, 180_000);

  it.skipIf(!opensslPresent)(
    'a replica proves its time-stamp with --tsa-ca; a token for another checkpoint or from another CA is named',
    async () => {
      // A seal with a timestamp authority configured (OpenSSL's `ts -reply` on loopback): the config the other
      // commands read, plus transparency.timestampAuthority.
      const tsa = await startOpensslTsa();
      const stranger = await startOpensslTsa();
      try {
        const configPath = join(work, 'tsa.config.json');
        const checkoutConfig = JSON.parse(readFileSync(join(ROOT, 'mail-archiver.config.json'), 'utf8'));
        writeFileSync(
          configPath,
          JSON.stringify({
            ...checkoutConfig,
            transparency: { ...checkoutConfig.transparency, timestampAuthority: tsa.url },
          }),
        );
        await send(makeMessage({ subject: 'time-stamped' }));
        sent += 1;
        await expect.poll(archived, { timeout: 30_000, interval: 500 }).toBe(sent);
        const stamped = join(work, 'stamped');
        const sealed = await cli(['--config', configPath, '--json', 'seal', '--out', stamped]);
        expect(sealed.code, sealed.stderr).toBe(0);
        expect(JSON.parse(sealed.stdout.trim().split('\n').at(-1) as string)).toMatchObject({
          size: sent,
          timestamp: { policy: '1.3.6.1.4.1.99999.1' },
        });
        const replica = join(work, 'stamped-replica');
        const synced = await cli(['--json', 'sync', replica, '--once']);
        expect(synced.code, synced.stdout + synced.stderr).toBe(0);
        const mailboxDir = join(replica, MAILBOX);

        const good = await verify(mailboxDir, ...trust(stamped), '--tsa-ca', tsa.caPath);
        expect(good.code, good.stdout + good.stderr).toBe(0);
        expect(good.report).toMatchObject({ ok: true, transparency: { proven: sent, replica: true } });
        expect((good.report.transparency as { timestamp?: { time: string } }).timestamp?.time).toBeDefined();

        const tsr = `checkpoints/${String(sent).padStart(12, '0')}.tsr`;
        const otherCa = await verify(mailboxDir, ...trust(stamped), '--tsa-ca', stranger.caPath);
        expect(otherCa.code).toBe(1);
        expect(otherCa.report.errors).toContainEqual(
          expect.stringMatching(
            new RegExp(`^${tsr.replace('.', '\\.')} \\(the replica's copy\\): .*does not verify`),
          ),
        );

        // A genuine token of the same authority, but for the first checkpoint, put in the copy in its place.
        const copy = join(replica, '.mail-archiver-sync', 'transparency');
        const older = readFileSync(join(first(), 'checkpoint'));
        const request = timestampRequest(older);
        const forOlder = await httpTimestampAuthority(tsa.url)(request.der);
        rmSync(join(copy, tsr));
        writeFileSync(join(copy, tsr), forOlder);
        const swapped = await verify(mailboxDir, ...trust(stamped), '--tsa-ca', tsa.caPath);
        expect(swapped.code).toBe(1);
        expect(swapped.report.errors).toContainEqual(
          expect.stringMatching(
            new RegExp(`^${tsr.replace('.', '\\.')} \\(the replica's copy\\): .*other data`),
          ),
        );
      } finally {
        await Promise.all([tsa.stop(), stranger.stop()]);
      }
    },
    180_000,
  );

  it('a sealed file written over in the S3 store: seal, export and doctor each fail in one line naming it', async () => {
    // What an operator with the bucket's files in hand could do (the Object Lock layer keeps the locked version;
    // readers see the current one): the newest leaf's sha256 changed in its entry bundle, on disk.
    const { size } = await sealTo(join(work, 'before-damage'));
    const index = Math.floor((size - 1) / 256);
    const width = size - index * 256;
    const tile = `${String(index).padStart(3, '0')}${width < 256 ? `.p/${width}` : ''}`;
    const entriesDir = join(home, 's3', 'mail-archiver-raw', 'transparency', 'tile', 'entries');
    const onDisk = join(entriesDir, `${tile}._S3rver_object`);
    const sealedBytes = readFileSync(onDisk);
    const at = sealedBytes.toString('latin1').lastIndexOf('"sha256":"') + '"sha256":"'.length;
    const forged = Buffer.from(sealedBytes);
    forged[at] = forged[at] === 0x30 ? 0x31 : 0x30;
    writeFileSync(onDisk, forged);
    const named = `leaf ${size - 1} of tile/entries/${tile} is not the leaf tile/0/${tile} holds`;
    try {
      for (const args of [['seal'], ['export', MAILBOX, '--out', join(work, 'damaged.tar.gz')]]) {
        const result = await cli(args);
        expect(result.code, result.stdout + result.stderr).toBe(1);
        expect(result.stderr).toContain(`mail-archiver: the transparency log is damaged: `);
        expect(result.stderr).toContain(named);
        expect(result.stderr).toMatch(/nothing was (sealed|exported); see docs\/transparency\.md/);
        expect(result.stderr).not.toMatch(/--verbose|^\s+at /m);
      }
      expect(readdirSync(work)).not.toContain('damaged.tar.gz');
      const doctor = await cli(['doctor']);
      expect(doctor.code, doctor.stdout).toBe(1);
      expect(doctor.stdout).toMatch(/^fail\s+transparency log\s+damaged: /m);
      expect(doctor.stdout).toContain(named);
    } finally {
      writeFileSync(onDisk, sealedBytes);
    }
    // The sealed bytes back: the log goes on as before.
    const doctor = await cli(['doctor']);
    expect(doctor.stdout).toMatch(/^ok\s+transparency log\s+checkpoint of \d+ deliveries/m);
    expect((await cli(['seal'])).code).toBe(0);
  }, 180_000);

  it.skipIf(!unsharePresent)(
    'verify needs no network and no credentials: a bundle proven, a message file deleted named with its received time',
    async () => {
      const dir = join(work, 'unpacked-offline');
      mkdirSync(dir);
      await run('tar', ['-xzf', join(work, 'alice.tar.gz'), '-C', dir]);
      // A network namespace with no interface but loopback, and no environment at all (no AWS credentials).
      const offline = async (target: string) => {
        try {
          const { stdout } = await run(
            'env',
            [
              '-i',
              `PATH=${process.env.PATH}`,
              `HOME=${home}`,
              'unshare',
              '-rn',
              'node',
              join(ROOT, 'cli/bin.js'),
            ].concat(['--json', 'verify', target, ...trust(second())]),
            { cwd: ROOT },
          );
          return { code: 0, report: JSON.parse(stdout.trim().split('\n').at(-1) as string) };
        } catch (error) {
          const e = error as { stdout: string; code: number };
          return { code: e.code, report: JSON.parse(e.stdout.trim().split('\n').at(-1) as string) };
        }
      };
      expect(await offline(dir)).toMatchObject({ code: 0, report: { ok: true } });
      const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
        messages: { file: string; folder: string; uid: number; receivedAt: string }[];
      };
      const gone = manifest.messages[1] as (typeof manifest.messages)[number];
      rmSync(join(dir, gone.file));
      const missing = await offline(dir);
      expect(missing.code).toBe(1);
      expect(missing.report.errors).toContainEqual(
        `${gone.folder} UID ${gone.uid} (${gone.file}): file missing (received ${gone.receivedAt})`,
      );
    },
    120_000,
  );
});
