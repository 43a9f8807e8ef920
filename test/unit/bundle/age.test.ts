// The age layer of a bundle: round trips through the library, what the `age` CLI makes and reads (both ways), and
// the plain words for each failure. The CLI is Debian's `age` (scripts/install-system-deps.sh installs it).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import {
  AgeHeaderError,
  AgeKeyError,
  AgePayloadError,
  type BundleEncryption,
  type BundleKeys,
  checkRecipient,
  decryptBundle,
  encryptingStream,
  newIdentity,
  parseIdentityFile,
} from '../../../shared/bundle/age';

const ageCli = spawnSync('age', ['--version']).status === 0;
if (!ageCli)
  console.warn('SKIPPED: the age CLI tests: install Debian package "age" (scripts/install-system-deps.sh)');

async function encrypt(plain: Buffer, to: BundleEncryption): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const encryptor = await encryptingStream(to);
  const sink = new (await import('node:stream')).Writable({
    write(chunk: Buffer, _e, done) {
      chunks.push(chunk);
      done();
    },
  });
  // Written in uneven slices, as gzip hands them over.
  const slices = (function* () {
    for (let i = 0; i < plain.length; i += 100_003) yield plain.subarray(i, i + 100_003);
  })();
  await pipeline(Readable.from(slices), encryptor, sink);
  return Buffer.concat(chunks);
}

const decrypt = async (cipher: Buffer, keys: BundleKeys) =>
  buffer(await decryptBundle(Readable.from([cipher]), keys));

const keysOf = (...identities: string[]): BundleKeys => ({
  identities: identities.map((key) => ({ key, source: 'key.txt' })),
});

const plain = randomBytes(1_000_000); // 16 chunks of 64 KiB and a short last one
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('age-encrypted bundles', () => {
  it('round-trips with one recipient, and with two (each opens it alone)', async () => {
    const a = await newIdentity();
    const b = await newIdentity();
    expect(sha(await decrypt(await encrypt(plain, { recipients: [a.recipient] }), keysOf(a.identity)))).toBe(
      sha(plain),
    );
    const both = await encrypt(plain, { recipients: [a.recipient, b.recipient] });
    expect(sha(await decrypt(both, keysOf(b.identity)))).toBe(sha(plain));
    expect(sha(await decrypt(both, keysOf(a.identity)))).toBe(sha(plain));
  });

  it('round-trips with a passphrase (a low work factor here), and says so when it is wrong', async () => {
    const cipher = await encrypt(plain, { passphrase: 'tide-lamp-orbit-quiet', workFactor: 10 });
    const passphrase = async () => 'tide-lamp-orbit-quiet';
    expect(sha(await decrypt(cipher, { identities: [], passphrase }))).toBe(sha(plain));
    await expect(decrypt(cipher, { identities: [], passphrase: async () => 'wrong' })).rejects.toThrow(
      new AgeKeyError('the passphrase does not open this bundle'),
    );
  });

  it('names a passphrase bundle given an identity, and a recipient bundle given none', async () => {
    const a = await newIdentity();
    const cipher = await encrypt(plain, { passphrase: 'x', workFactor: 10 });
    await expect(decrypt(cipher, keysOf(a.identity))).rejects.toThrow(
      /encrypted with a passphrase, not to a recipient: an identity file cannot open it/,
    );
    const forTwo = await encrypt(plain, { recipients: [a.recipient, (await newIdentity()).recipient] });
    await expect(decrypt(forTwo, { identities: [] })).rejects.toThrow(
      /the bundle is encrypted for 2 recipients of type X25519: give the identity file/,
    );
  });

  it('says no identity matched, for how many recipients of which type', async () => {
    const [a, b, wrong] = await Promise.all([newIdentity(), newIdentity(), newIdentity()]);
    const cipher = await encrypt(plain, { recipients: [a.recipient, b.recipient] });
    const failure = await decrypt(cipher, keysOf(wrong.identity)).catch((e: Error) => e);
    expect(failure).toBeInstanceOf(AgeKeyError);
    expect((failure as Error).message).toBe(
      'no identity matched; the bundle is for 2 recipients of type X25519 (tried 1 identity from key.txt)',
    );
  });

  it('tells truncation at several points, with the MiB still intact', async () => {
    const a = await newIdentity();
    const cipher = await encrypt(plain, { recipients: [a.recipient] });
    const headerEnd = cipher.indexOf('\n', cipher.indexOf('\n---') + 1) + 1;
    // Inside the header; right after it (no nonce); mid-payload; at a chunk boundary; one byte short.
    const cuts = [
      40,
      headerEnd,
      headerEnd + 16 + 5 * 65552 + 1000,
      headerEnd + 16 + 8 * 65552,
      cipher.length - 1,
    ];
    const outcomes: string[] = [];
    for (const cut of cuts) {
      const failure = await decrypt(cipher.subarray(0, cut), keysOf(a.identity)).catch((e: Error) => e);
      expect(failure, `cut at ${cut}`).toBeInstanceOf(Error);
      outcomes.push((failure as Error).message.split(':')[0] ?? '');
      if (cut > headerEnd) expect((failure as AgePayloadError).truncated, `cut at ${cut}`).toBe(true);
      // Every whole chunk before the last one in the file is intact; the last fails (it is not flagged final).
      if (cut > headerEnd + 16)
        expect((failure as AgePayloadError).intactBytes, `cut at ${cut}`).toBe(
          (Math.ceil((cut - headerEnd - 16) / 65552) - 1) * 65536,
        );
    }
    expect(outcomes).toEqual([
      'truncated in its age header (the file ends after 40 bytes, before the header does)',
      'truncated after 0.0 MiB intact',
      'truncated after 0.3 MiB intact',
      'truncated after 0.4 MiB intact', // 7 chunks: the 8th, cut at its end, is not flagged final
      'truncated after 0.9 MiB intact',
    ]);
  });

  it('tells a damaged chunk in the middle from truncation, and a damaged header from both', async () => {
    const a = await newIdentity();
    const cipher = await encrypt(plain, { recipients: [a.recipient] });
    const headerEnd = cipher.indexOf('\n', cipher.indexOf('\n---') + 1) + 1;
    const flipped = Buffer.from(cipher);
    const at = headerEnd + 16 + 3 * 65552 + 77;
    flipped[at] = (flipped[at] ?? 0) ^ 1;
    const failure = await decrypt(flipped, keysOf(a.identity)).catch((e: Error) => e);
    expect(failure).toBeInstanceOf(AgePayloadError);
    expect((failure as Error).message).toMatch(
      /^damaged after 0\.2 MiB intact: a chunk of the encrypted data/,
    );

    const header = Buffer.from(cipher);
    header[headerEnd - 10] = 'A'.charCodeAt(0) === header[headerEnd - 10] ? 66 : 65; // in the MAC
    await expect(decrypt(header, keysOf(a.identity))).rejects.toThrow(AgeHeaderError);
    const garbled = Buffer.concat([cipher.subarray(0, 30), Buffer.from('\x01\x02'), cipher.subarray(32)]);
    await expect(decrypt(garbled, keysOf(a.identity))).rejects.toThrow(/^damaged age header/);
    const endless = Buffer.concat([cipher.subarray(0, 22), Buffer.alloc(2 * 1024 * 1024, 65)]);
    await expect(decrypt(endless, keysOf(a.identity))).rejects.toThrow(/no end of the header in its first/);
  });

  it('does not call a whole file with an altered end, or bytes appended, only truncated', async () => {
    const a = await newIdentity();
    const cipher = await encrypt(plain, { recipients: [a.recipient] });
    const altered = Buffer.from(cipher);
    altered[cipher.length - 5] = (altered[cipher.length - 5] ?? 0) ^ 1; // in the last chunk's tag
    const appended = Buffer.concat([cipher, Buffer.from('x')]);
    for (const file of [altered, appended]) {
      const failure = await decrypt(file, keysOf(a.identity)).catch((e: Error) => e);
      expect(failure).toBeInstanceOf(AgePayloadError);
      expect((failure as Error).message).toMatch(
        /^truncated after 0\.9 MiB intact: the encrypted bundle ends before its last chunk is whole \(an interrupted copy or download\?\), or its end was altered/,
      );
    }
  });

  it('reads identity files as age-keygen writes them, and refuses what is not one in plain words', async () => {
    const a = await newIdentity(new Date('2030-01-02T03:04:05.678Z'));
    expect(a.fileText).toBe(`# created: 2030-01-02T03:04:05Z\n# public key: ${a.recipient}\n${a.identity}\n`);
    expect(await parseIdentityFile(a.fileText, 'k')).toEqual([{ key: a.identity, source: 'k' }]);
    await expect(parseIdentityFile(`# x\n${a.recipient}\n`, 'k')).rejects.toThrow(
      'k line 2 is a recipient (a public key), not an identity',
    );
    await expect(parseIdentityFile('# nothing\n', 'k')).rejects.toThrow('k holds no age identity');
    await expect(parseIdentityFile('AGE-SECRET-KEY-1QQQ\n', 'k')).rejects.toThrow(/k line 1 is not a valid/);
    expect(() => checkRecipient('age1pq1abc')).toThrow(/is not an age X25519 recipient/);
    expect(checkRecipient(` ${a.recipient}\n`)).toBe(a.recipient);
  });

  it('never repeats a secret key in an error: a mistyped identity line, or a secret key given as a recipient', async () => {
    const a = await newIdentity();
    // One character off, as a paper key typed by hand: its checksum fails.
    const last = a.identity.at(-1) === 'Q' ? 'P' : 'Q';
    const typo = `${a.identity.slice(0, -1)}${last}`;
    const failure = await parseIdentityFile(`${typo}\n`, 'k').catch((e: Error) => e);
    expect((failure as Error).message).toMatch(/^k line 1 is not a valid age identity \(its checksum/);
    expect(JSON.stringify(failure, Object.getOwnPropertyNames(failure))).not.toContain(typo.slice(20, 50));
    expect(String((failure as Error).cause)).not.toContain(typo.slice(20, 50));
    const given = (() => {
      try {
        checkRecipient(a.identity, '--encrypt-to');
      } catch (error) {
        return error as Error;
      }
    })();
    expect(given?.message).toMatch(
      /^--encrypt-to is a secret key \(AGE-SECRET-KEY-1\.\.\.\), not a recipient/,
    );
    expect(given?.message).not.toContain(a.identity.slice(20, 50));
  });

  describe.skipIf(!ageCli)('with the age CLI (Debian package "age")', () => {
    const dir = mkdtempSync(join(tmpdir(), 'age-cli-'));

    it('decrypts what we encrypt, to two recipients, with a key file age-keygen wrote', async () => {
      const keyFile = join(dir, 'theirs.txt');
      execFileSync('age-keygen', ['-o', keyFile], { stdio: 'ignore' });
      const theirs = readFileSync(keyFile, 'utf8').match(/public key: (age1\S+)/)?.[1] ?? '';
      const ours = await newIdentity();
      const cipher = await encrypt(plain, { recipients: [ours.recipient, theirs] });
      writeFileSync(join(dir, 'b.age'), cipher);
      const out = execFileSync('age', ['-d', '-i', keyFile, join(dir, 'b.age')], { maxBuffer: 1 << 24 });
      expect(sha(out)).toBe(sha(plain));
      const oursFile = join(dir, 'ours.txt');
      writeFileSync(oursFile, ours.fileText, { mode: 0o600 });
      const again = execFileSync('age', ['-d', '-i', oursFile, join(dir, 'b.age')], { maxBuffer: 1 << 24 });
      expect(sha(again)).toBe(sha(plain));
    });

    it('opens what the age CLI encrypts, to a recipient of ours, and finds its truncation', async () => {
      const ours = await newIdentity();
      writeFileSync(join(dir, 'plain.bin'), plain);
      execFileSync('age', ['-r', ours.recipient, '-o', join(dir, 'c.age'), join(dir, 'plain.bin')]);
      const cipher = readFileSync(join(dir, 'c.age'));
      expect(sha(await decrypt(cipher, keysOf(ours.identity)))).toBe(sha(plain));
      const cut = await decrypt(cipher.subarray(0, cipher.length - 70_000), keysOf(ours.identity)).catch(
        (e: Error) => e,
      );
      // 14 whole chunks of 64 KiB come before the cut one.
      expect((cut as AgePayloadError).intactBytes).toBe(14 * 65536);
      expect((cut as Error).message).toMatch(/^truncated after 0\.9 MiB intact/);
    });
  });
});
