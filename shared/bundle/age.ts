// Bundles encrypted with age (https://c2sp.org/age), through the format author's own implementation
// (age-encryption, "typage"): an X25519 header stanza per recipient, or one scrypt stanza for a passphrase, then
// the STREAM payload in 64 KiB chunks, the last one flagged, so a cut-off file fails at its end instead of
// passing as a shorter one. This module only adds what the library leaves to its caller: Node streams in and out,
// a bound on the header a hostile file may make us buffer, which keys a header wants, and plain words for each
// failure. No plaintext is written anywhere: decryption is a stream into the caller's checks.
import { Duplex, Readable } from 'node:stream';
import {
  Decrypter,
  Encrypter,
  generateX25519Identity,
  type Identity,
  identityToRecipient,
  type Stanza,
} from 'age-encryption';
import { errorMessage } from '../errors';
import { AGE_X25519_RECIPIENT } from './age-recipient';

/** The first line of every binary age v1 file (c2sp.org/age, "Version line"). */
export const AGE_MAGIC = Buffer.from('age-encryption.org/v1\n');
/** The first line of an ASCII-armored one (c2sp.org/age, "ASCII armor"). */
const ARMOR_BEGIN = Buffer.from('-----BEGIN AGE ENCRYPTED FILE-----');
/** What a header may take before it is refused: a stanza is ~100 bytes, so this is thousands of recipients. */
export const MAX_HEADER_BYTES = 1024 * 1024;
/** The payload's chunk size and its per-chunk tag (c2sp.org/age, "Payload"). */
const CHUNK = 64 * 1024;
const TAG = 16;
const NONCE = 16;

/** Whether `head` (the first bytes of a file) starts an age file, an armored one, or neither. */
export function ageKindOf(head: Buffer): 'age' | 'armored' | undefined {
  if (head.subarray(0, AGE_MAGIC.length).equals(AGE_MAGIC)) return 'age';
  if (head.subarray(0, ARMOR_BEGIN.length).equals(ARMOR_BEGIN)) return 'armored';
  return undefined;
}

/** How a bundle is encrypted: to public keys (X25519 recipients, `age1...`), or with a passphrase (scrypt). */
export type BundleEncryption =
  | { recipients: string[] }
  | {
      passphrase: string;
      /** log2 of scrypt's N; the library's and the age CLI's default is 18 (about a second here). */
      workFactor?: number;
    };

/** Any failure of an encrypted bundle, in words a person can act on. */
export class EncryptedBundleError extends Error {
  override name = 'EncryptedBundleError';
}

/** A recipient that is not an age X25519 public key. */
export class AgeRecipientError extends EncryptedBundleError {
  override name = 'AgeRecipientError';
}

/** The header cannot be parsed, or its MAC does not match: nothing in the file can be trusted. */
export class AgeHeaderError extends EncryptedBundleError {
  override name = 'AgeHeaderError';
}

/** None of the keys given opens the header (or the wrong kind of key was given). */
export class AgeKeyError extends EncryptedBundleError {
  override name = 'AgeKeyError';
}

/**
 * The payload stopped authenticating. `intactBytes` of the plaintext (the tar.gz) came before the failure and are
 * authentic; `truncated` tells a file that ends inside its last chunk (an interrupted copy) from one whose chunk
 * in the middle was altered. A last chunk that fails looks the same whether the file was cut, its end altered or
 * bytes appended (each leaves a final piece that authenticates neither as a last chunk nor as a whole one), so
 * the words name the likely cause and the others.
 */
export class AgePayloadError extends EncryptedBundleError {
  override name = 'AgePayloadError';
  constructor(
    readonly truncated: boolean,
    readonly intactBytes: number,
    options?: ErrorOptions,
  ) {
    super(
      truncated
        ? `truncated after ${mib(intactBytes)} intact: the encrypted bundle ends before its last chunk is whole (an interrupted copy or download?), or its end was altered. Copy it again from the original if you can.`
        : `damaged after ${mib(intactBytes)} intact: a chunk of the encrypted data fails its authentication (the file was altered or corrupted). Copy it again from the original if you can.`,
      options,
    );
  }
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/**
 * An age X25519 recipient (`age1` and 58 bech32 characters) as given, or AgeRecipientError naming it. Post-quantum
 * (`age1pq1...`) and plugin recipients are refused: Debian's age 1.1 cannot decrypt them.
 */
export function checkRecipient(value: string, where = 'recipient'): string {
  const text = value.trim();
  // A secret key where a recipient belongs is said without repeating it (errors are pasted into reports).
  if (/^AGE-SECRET-KEY-1/i.test(text))
    throw new AgeRecipientError(
      `${where} is a secret key (AGE-SECRET-KEY-1...), not a recipient: give its recipient (age1..., which keygen printed; "age-keygen -y KEYFILE" prints it again), and keep the secret key out of configs and command lines`,
    );
  if (!AGE_X25519_RECIPIENT.test(text))
    throw new AgeRecipientError(
      `${where} ${JSON.stringify(value)} is not an age X25519 recipient (age1 followed by 58 characters, as "mail-archiver keygen" or age-keygen print)`,
    );
  try {
    new Encrypter().addRecipient(text);
  } catch (error) {
    throw new AgeRecipientError(`${where} ${JSON.stringify(value)} is not a valid age recipient`, {
      cause: error,
    });
  }
  return text;
}

/**
 * A stream that encrypts what is written to it into an age file: the header (one stanza per recipient, or one
 * scrypt stanza), the nonce, then the STREAM payload. Resolves once the header is built; throws
 * AgeRecipientError for a recipient that is not an X25519 public key.
 */
export async function encryptingStream(encryption: BundleEncryption): Promise<Duplex> {
  const encrypter = new Encrypter();
  if ('passphrase' in encryption) {
    if (encryption.workFactor !== undefined) encrypter.setScryptWorkFactor(encryption.workFactor);
    encrypter.setPassphrase(encryption.passphrase);
  } else {
    if (encryption.recipients.length === 0) throw new AgeRecipientError('no recipient to encrypt to');
    for (const recipient of encryption.recipients) encrypter.addRecipient(checkRecipient(recipient));
  }
  const input = new TransformStream<Uint8Array, Uint8Array>();
  const output = await encrypter.encrypt(input.readable);
  return Duplex.fromWeb(
    { readable: output, writable: input.writable },
    { objectMode: false, highWaterMark: 256 * 1024 },
  );
}

/** Keys to open an encrypted bundle: identities (`AGE-SECRET-KEY-1...`, each with where it came from), or a passphrase. */
export interface BundleKeys {
  identities: { key: string; source: string }[];
  /** Asked only when the bundle was encrypted with a passphrase. */
  passphrase?: () => Promise<string>;
}

/** The header's stanzas by type, e.g. { X25519: 2 }: what a bundle is encrypted to, without opening it. */
export type RecipientCensus = Record<string, number>;

/**
 * Opens an age-encrypted bundle stream: reads its header (at most MAX_HEADER_BYTES), unwraps the file key with
 * `keys`, and resolves to the plaintext (the tar.gz) as a stream. Throws, before any plaintext: AgeHeaderError for
 * a damaged or truncated header or a failing header MAC; AgeKeyError when no identity matches ("no identity
 * matched; the bundle is for 2 recipients of type X25519"), when a passphrase bundle is given identities, when a
 * recipient bundle is given none, or for a wrong passphrase. The returned stream then fails with AgePayloadError
 * where the payload stops authenticating (the bytes before it are authentic), and with the source's own error
 * when reading fails.
 */
export async function decryptBundle(source: Readable, keys: BundleKeys): Promise<Readable> {
  const reader = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const close = () => {
    source.destroy();
  };
  try {
    const head = await readHeader(reader);
    const census = await recipientsOf(head.header);
    const decrypter = new Decrypter();
    const scrypt = census.scrypt ?? 0;
    const described = describeCensus(census);
    if (scrypt > 0) {
      if (keys.identities.length > 0)
        throw new AgeKeyError(
          'this bundle is encrypted with a passphrase, not to a recipient: an identity file cannot open it (leave out --identity and type the passphrase when asked)',
        );
      if (!keys.passphrase)
        throw new AgeKeyError('this bundle is encrypted with a passphrase: type it when asked');
      decrypter.addPassphrase(await keys.passphrase());
    } else {
      if (keys.identities.length === 0)
        throw new AgeKeyError(
          `the bundle is encrypted for ${described}: give the identity file of one of them with --identity FILE`,
        );
      for (const identity of keys.identities) decrypter.addIdentity(identity.key);
    }
    // The library decrypts inside a web TransformStream, whose queued output is dropped when a later chunk fails.
    // So its output is read as soon as it is made (it says exactly how much was intact), the ciphertext goes in
    // one chunk's worth at a time (one decryption per step), and backpressure is applied to the input instead.
    const plain = new Readable({ highWaterMark: 4 * CHUNK, read: () => wakeInput() });
    let wakeInput = () => {};
    const roomForMore = () =>
      plain.readableLength < plain.readableHighWaterMark
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            wakeInput = () => {
              wakeInput = () => {};
              resolve();
            };
          });
    let total = head.prefix.length;
    let ended = false;
    let sourceError: unknown;
    let pending = head.prefix;
    const ciphertext = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          await roomForMore();
          if (pending.length === 0) {
            const next = await reader.next().catch((error: unknown) => {
              sourceError = error;
              throw error;
            });
            if (next.done) {
              ended = true;
              controller.close();
              return;
            }
            total += next.value.length;
            pending = next.value;
          }
          controller.enqueue(pending.subarray(0, CHUNK + TAG));
          pending = pending.subarray(CHUNK + TAG);
        },
        cancel: close,
      },
      { highWaterMark: 0 },
    );
    let plaintext: ReadableStream<Uint8Array>;
    try {
      plaintext = await decrypter.decrypt(ciphertext);
    } catch (error) {
      const message = errorMessage(error);
      if (/no identity matched/.test(message))
        throw new AgeKeyError(
          scrypt > 0
            ? 'the passphrase does not open this bundle'
            : `no identity matched; the bundle is for ${described} (tried ${keys.identities.length} ${keys.identities.length === 1 ? 'identity' : 'identities'} from ${[...new Set(keys.identities.map((i) => i.source))].join(', ')})`,
          { cause: error },
        );
      if (/header HMAC/.test(message))
        throw new AgeHeaderError('damaged age header: its MAC does not match (the header was altered)', {
          cause: error,
        });
      if (/stream ended before/.test(message)) throw new AgePayloadError(true, 0, { cause: error });
      throw new AgeHeaderError(`damaged age header: ${message}`, { cause: error });
    }
    const headerBytes = head.header.length;
    const output = plaintext.getReader();
    plain.on('close', () => {
      output.cancel().catch(() => undefined);
      close();
    });
    void (async () => {
      let intact = 0;
      for (;;) {
        let next: Awaited<ReturnType<typeof output.read>>;
        try {
          next = await output.read();
        } catch (error) {
          if (sourceError !== undefined) {
            plain.destroy(sourceError as Error); // reading the file failed (EIO, ...): said as it is
            return;
          }
          // The failing chunk is the one after the intact ones; it is the last when nothing follows it.
          const failedAt = headerBytes + NONCE + (intact / CHUNK) * (CHUNK + TAG);
          const truncated = ended && total - failedAt <= CHUNK + TAG;
          plain.destroy(new AgePayloadError(truncated, intact, { cause: error }));
          return;
        }
        if (next.done) {
          plain.push(null);
          return;
        }
        intact += next.value.length;
        plain.push(Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength));
      }
    })();
    return plain;
  } catch (error) {
    close();
    throw error;
  }
}

/**
 * Reads up to the end of the header (the line that starts with `---`, c2sp.org/age "Header MAC"): a hostile file
 * with no such line stops at MAX_HEADER_BYTES instead of being buffered whole. Returns the header's bytes and
 * everything read so far (the header and the start of the payload).
 */
async function readHeader(reader: AsyncIterator<Buffer>): Promise<{ header: Buffer; prefix: Buffer }> {
  const chunks: Buffer[] = [];
  let length = 0;
  let searchFrom = 0;
  for (;;) {
    const buffered = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    chunks.length = 0;
    chunks.push(buffered);
    const mac = buffered.indexOf('\n---', Math.max(0, searchFrom - 4));
    if (mac >= 0) {
      const end = buffered.indexOf(10, mac + 1);
      if (end >= 0) return { header: buffered.subarray(0, end + 1), prefix: buffered };
    }
    searchFrom = buffered.length;
    if (length > MAX_HEADER_BYTES)
      throw new AgeHeaderError(
        `damaged age header: no end of the header in its first ${MAX_HEADER_BYTES} bytes`,
      );
    const next = await reader.next();
    if (next.done)
      throw new AgeHeaderError(
        `truncated in its age header (the file ends after ${length} bytes, before the header does)`,
      );
    chunks.push(next.value);
    length += next.value.length;
  }
}

/**
 * The header's stanza types and counts, parsed by the library itself (an identity that only looks); throws
 * AgeHeaderError when it does not parse.
 */
async function recipientsOf(header: Buffer): Promise<RecipientCensus> {
  const census: RecipientCensus = {};
  const looker: Identity = {
    unwrapFileKey(stanzas: Stanza[]) {
      for (const s of stanzas) census[s.args[0] ?? '?'] = (census[s.args[0] ?? '?'] ?? 0) + 1;
      return null;
    },
  };
  const decrypter = new Decrypter();
  decrypter.addIdentity(looker);
  try {
    await decrypter.decryptHeader(header);
  } catch (error) {
    if (!/no identity matched/.test(errorMessage(error)))
      throw new AgeHeaderError(`damaged age header: ${errorMessage(error)}`, { cause: error });
  }
  return census;
}

function describeCensus(census: RecipientCensus): string {
  const parts = Object.entries(census).map(
    ([type, count]) => `${count} ${count === 1 ? 'recipient' : 'recipients'} of type ${type}`,
  );
  return parts.join(' and ') || 'no recipient';
}

/**
 * The identities in an identity file's text, in age-keygen's format (`# comments`, blank lines, one
 * `AGE-SECRET-KEY-1...` a line). Throws AgeKeyError naming `source` and the line for anything else: an
 * encrypted identity file, an SSH key, a recipient given where an identity is wanted.
 */
export async function parseIdentityFile(
  text: string,
  source: string,
): Promise<{ key: string; source: string }[]> {
  if (ageKindOf(Buffer.from(text.slice(0, 64))))
    throw new AgeKeyError(
      `${source} is itself age-encrypted (a passphrase-protected identity): decrypt it first with "age -d ${source} > key.txt", or use a plain identity file`,
    );
  const identities: { key: string; source: string }[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const where = `${source} line ${i + 1}`;
    if (line.startsWith('age1'))
      throw new AgeKeyError(
        `${where} is a recipient (a public key), not an identity: --identity wants the secret key file`,
      );
    if (/^-----BEGIN|^ssh-/.test(line))
      throw new AgeKeyError(
        `${where}: SSH keys are not supported; use an age identity (mail-archiver keygen)`,
      );
    if (!line.startsWith('AGE-SECRET-KEY-1'))
      throw new AgeKeyError(`${where} is not an age identity (AGE-SECRET-KEY-1...)`);
    try {
      await identityToRecipient(line);
    } catch (error) {
      // The library's message quotes the key: neither it nor the error itself goes on (a key one character off is
      // still most of a secret key).
      const reason = /checksum/i.test(errorMessage(error))
        ? 'its checksum does not match: a character is mistyped, missing or extra'
        : 'it does not decode: a character is mistyped, missing or extra';
      throw new AgeKeyError(`${where} is not a valid age identity (${reason})`);
    }
    identities.push({ key: line, source });
  }
  if (identities.length === 0) throw new AgeKeyError(`${source} holds no age identity`);
  return identities;
}

/**
 * A new X25519 identity, its recipient, and the identity file's text in age-keygen's format (so `age -d -i`
 * reads it): `# created: <ISO 8601 UTC>`, `# public key: age1...`, then the identity.
 */
export async function newIdentity(now = new Date()): Promise<{
  identity: string;
  recipient: string;
  fileText: string;
}> {
  const identity = await generateX25519Identity();
  const recipient = await identityToRecipient(identity);
  const created = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    identity,
    recipient,
    fileText: `# created: ${created}\n# public key: ${recipient}\n${identity}\n`,
  };
}
