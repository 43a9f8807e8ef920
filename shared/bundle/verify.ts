// `mail-archiver verify`: re-hashes every message of a bundle against its manifest and checks the maildir
// rules that, broken, make Dovecot cut, drop or renumber mail (exact S= and W=, mtimes, uidlists, layout).
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { errorMessage } from '../errors';
import { BUNDLE_PROOFS } from '../transparency/proofs';
import {
  type BundleLimits,
  DEFAULT_BUNDLE_LIMITS,
  entryPath,
  entryProblem,
  readBundleEntries,
  TRANSPARENCY_ENTRY,
} from './entries';
import { explainBundleError } from './errors';
import { flagLetters, MAILDIR_ROOT, parseMessageFileName } from './maildir';
import { type BundleManifest, parseBundleManifest } from './manifest';
import { readMboxMessages } from './mbox-reader';

export interface VerifyReport {
  ok: boolean;
  messages: number;
  errors: string[];
  manifest?: BundleManifest;
  /** The sum of the entries' sizes: what unpacking the bundle writes. */
  unpackedBytes: number;
  /**
   * The transparency files the bundle carries (TRANSPARENCY_ENTRY), by path: checked by `verify --checkpoint`.
   * proofs.jsonl is here only when `keepProofs` is true (the default).
   */
  transparency: Map<string, Buffer>;
  /** Where proofs.jsonl was written, when `keepProofs` named a directory and the bundle has one. */
  proofsFile?: string;
}

export interface VerifyOptions {
  /**
   * What becomes of proofs.jsonl (about 1 KB a message): true (the default) keeps it in `transparency`; false
   * drains it unread (a plain verify has no use for it); a directory's path writes it there as `proofs.jsonl`
   * (`proofsFile`), for checkBundleTransparency to read a line at a time.
   */
  keepProofs?: boolean | string;
}

interface FileFacts {
  size: number;
  mtime?: Date;
  sha256: string;
  /** sha256 of the file with every LF written as CRLF: the original of a `crlf-to-lf` file. */
  sha256Crlf: string;
  bareLf: number;
  text?: string;
}

/** The only text entries verify reads back; the others are hashed like any file and not kept. */
const KEPT_TEXT = /(^|\/)(manifest\.json|dovecot-uidlist)$/;

/**
 * The facts of every file of a bundle, by path. Verify holds them until the manifest (which may come last in the
 * tar) has been read, so they are kept compact: sizes, times and counts in typed arrays and both digests as 64 raw
 * bytes, about 90 bytes a file beside its path, where an object with hex digests and a Date took about 400.
 */
class FileTable {
  private readonly rows = new Map<string, number>();
  private capacity = 1024;
  private sizes = new Float64Array(this.capacity);
  private mtimes = new Float64Array(this.capacity);
  private hasMtime = new Uint8Array(this.capacity);
  private bareLfs = new Float64Array(this.capacity);
  /** sha256 then sha256Crlf, 64 bytes a row. */
  private digests = Buffer.alloc(this.capacity * 64);
  private readonly texts = new Map<string, string>();

  /** How many files were added. */
  get size(): number {
    return this.rows.size;
  }

  has(path: string): boolean {
    return this.rows.has(path);
  }

  /** Adds (or, for a path seen before, replaces) a file's facts. */
  set(path: string, facts: FileFacts): void {
    let row = this.rows.get(path);
    if (row === undefined) {
      row = this.rows.size;
      if (row === this.capacity) this.grow();
      this.rows.set(path, row);
    }
    this.sizes[row] = facts.size;
    this.hasMtime[row] = facts.mtime ? 1 : 0;
    this.mtimes[row] = facts.mtime ? facts.mtime.getTime() : 0;
    this.bareLfs[row] = facts.bareLf;
    this.digests.write(facts.sha256, row * 64, 32, 'hex');
    this.digests.write(facts.sha256Crlf, row * 64 + 32, 32, 'hex');
    if (facts.text === undefined) this.texts.delete(path);
    else this.texts.set(path, facts.text);
  }

  /** A file's facts, made again from the table (a new object each call). */
  get(path: string): FileFacts | undefined {
    const row = this.rows.get(path);
    if (row === undefined) return undefined;
    const text = this.texts.get(path);
    return {
      size: this.sizes[row] as number,
      ...(this.hasMtime[row] ? { mtime: new Date(this.mtimes[row] as number) } : {}),
      sha256: this.digests.toString('hex', row * 64, row * 64 + 32),
      sha256Crlf: this.digests.toString('hex', row * 64 + 32, row * 64 + 64),
      bareLf: this.bareLfs[row] as number,
      ...(text !== undefined ? { text } : {}),
    };
  }

  /** A kept text entry's text (manifest.json, dovecot-uidlist). */
  text(path: string): string | undefined {
    return this.texts.get(path);
  }

  /** A kept text entry's text, handed over: the table no longer holds it. */
  takeText(path: string): string | undefined {
    const text = this.texts.get(path);
    this.texts.delete(path);
    return text;
  }

  private grow(): void {
    this.capacity *= 2;
    const grown = <T extends Float64Array | Uint8Array>(from: T, make: (n: number) => T): T => {
      const to = make(this.capacity);
      to.set(from);
      return to;
    };
    this.sizes = grown(this.sizes, (n) => new Float64Array(n));
    this.mtimes = grown(this.mtimes, (n) => new Float64Array(n));
    this.hasMtime = grown(this.hasMtime, (n) => new Uint8Array(n));
    this.bareLfs = grown(this.bareLfs, (n) => new Float64Array(n));
    const digests = Buffer.alloc(this.capacity * 64);
    this.digests.copy(digests);
    this.digests = digests;
  }
}

/**
 * Reads a bundle stream once. An mboxrd file is spooled and parsed back with the mbox reader the importer uses,
 * so that mboxrd bundles are checked by the same code that would restore them. Every entry must pass
 * `entryProblem` (shared/bundle/entries.ts: regular files and directories only, safe names and modes, text
 * entries within `limits`); the manifest must match its schema. Never throws for a bad bundle: the report
 * lists why.
 */
export async function verifyBundle(
  bundle: Readable,
  limits: BundleLimits = DEFAULT_BUNDLE_LIMITS,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  const keepProofs = options.keepProofs ?? true;
  let proofsFile: string | undefined;
  const errors: string[] = [];
  const files = new FileTable();
  const directories = new Set<string>();
  const mboxHashes = new Map<string, string[]>();
  const transparency = new Map<string, Buffer>();
  const spool = await mkdtemp(join(tmpdir(), 'mail-archiver-verify-'));
  let unpackedBytes = 0;
  const damage: string[] = [];
  try {
    for await (const entry of readBundleEntries(bundle, limits, damage)) {
      unpackedBytes += entry.size;
      const problem = entryProblem(
        { name: entry.path, type: entry.type, mode: entry.mode, linkpath: entry.linkpath, size: entry.size },
        limits,
      );
      if (problem) {
        errors.push(`unsafe entry ${problem}`);
        continue;
      }
      const path = entryPath(entry.path);
      if (path === '') continue;
      if (entry.type === 'Directory') {
        directories.add(path);
        continue;
      }
      if (path === BUNDLE_PROOFS && keepProofs !== true) {
        if (keepProofs === false) entry.resume();
        else {
          proofsFile = join(keepProofs, 'proofs.jsonl');
          await pipeline(entry, createWriteStream(proofsFile, { mode: 0o600 }));
        }
        continue;
      }
      if (TRANSPARENCY_ENTRY.test(path)) {
        const chunks: Buffer[] = [];
        for await (const chunk of entry) chunks.push(chunk as Buffer);
        transparency.set(path, Buffer.concat(chunks));
        continue;
      }
      if (path.endsWith('.mbox') && !path.includes('/')) {
        const spooled = join(spool, `${mboxHashes.size}.mbox`);
        await pipeline(entry, createWriteStream(spooled));
        const hashes: string[] = [];
        // Every envelope line is a separator in an mboxrd file this archiver wrote (its bodies are escaped).
        const source = createReadStream(spooled, { highWaterMark: 1 << 20 });
        for await (const item of readMboxMessages(source, { escapedMboxrd: true })) {
          if (item.kind === 'message') hashes.push(createHash('sha256').update(item.raw).digest('hex'));
        }
        mboxHashes.set(path, hashes);
        continue;
      }
      files.set(path, await factsOf(entry, entry.size, entry.mtime, KEPT_TEXT.test(path)));
    }
  } catch (error) {
    errors.push(...damage, `cannot read the bundle: ${explainBundleError(error, files.size)}`);
    return {
      ok: false,
      messages: 0,
      errors,
      unpackedBytes,
      transparency,
      ...(proofsFile ? { proofsFile } : {}),
    };
  } finally {
    await rm(spool, { recursive: true, force: true });
  }
  errors.push(...damage);

  // Handed over, not kept: once parsed, the text (about 300 bytes a message) is garbage.
  let manifestText = files.takeText('manifest.json');
  if (manifestText === undefined)
    return {
      ok: false,
      messages: 0,
      errors: [...errors, 'manifest.json is missing'],
      unpackedBytes,
      transparency,
      ...(proofsFile ? { proofsFile } : {}),
    };
  let manifest: BundleManifest;
  try {
    manifest = parseBundleManifest(manifestText);
    manifestText = undefined;
  } catch (error) {
    return {
      ok: false,
      messages: 0,
      errors: [...errors, errorMessage(error)],
      unpackedBytes,
      transparency,
      ...(proofsFile ? { proofsFile } : {}),
    };
  }
  if (manifest.bundleFormat === 'mboxrd') checkMbox(manifest, mboxHashes, errors);
  else checkMaildir(manifest, files, directories, errors);
  return {
    ok: errors.length === 0,
    messages: manifest.messages.length,
    errors,
    manifest,
    unpackedBytes,
    transparency,
    ...(proofsFile ? { proofsFile } : {}),
  };
}

async function factsOf(
  entry: AsyncIterable<Buffer>,
  size: number,
  mtime: Date | undefined,
  keepText: boolean,
): Promise<FileFacts> {
  const plain = createHash('sha256');
  const crlf = createHash('sha256');
  let bareLf = 0;
  let lastWasCr = false;
  let actual = 0;
  // A kept text (the manifest: about 300 bytes a message) is copied into one buffer of the size its header gives,
  // not gathered as the reader's chunks and concatenated: those two copies beside the text were the peak of a
  // verify of a large bundle, and the many chunks stayed as fragments of the process's heap once freed.
  let text = keepText ? Buffer.allocUnsafe(size) : undefined;
  for await (const chunk of entry) {
    if (text) {
      if (actual + chunk.length > text.length) {
        const grown = Buffer.allocUnsafe(Math.max(actual + chunk.length, text.length * 2));
        text.copy(grown, 0, 0, actual);
        text = grown;
      }
      chunk.copy(text, actual);
    }
    actual += chunk.length;
    plain.update(chunk);
    let start = 0;
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) {
      const prevCr = i === 0 ? lastWasCr : chunk[i - 1] === 13;
      if (!prevCr) bareLf += 1;
      crlf.update(chunk.subarray(start, i));
      crlf.update(CRLF);
      start = i + 1;
    }
    crlf.update(chunk.subarray(start));
    lastWasCr = chunk.length > 0 ? chunk[chunk.length - 1] === 13 : lastWasCr;
  }
  return {
    size: actual === size ? size : actual,
    ...(mtime ? { mtime } : {}),
    sha256: plain.digest('hex'),
    sha256Crlf: crlf.digest('hex'),
    bareLf,
    ...(text ? { text: text.toString('utf8', 0, actual) } : {}),
  };
}
const CRLF = Buffer.from('\r\n');

function checkMaildir(
  manifest: BundleManifest,
  files: FileTable,
  directories: Set<string>,
  errors: string[],
) {
  const uidlists = new Map<string, { validity: number; next: number; entries: Map<number, string> }>();
  for (const folder of manifest.folders) {
    const dir = folder.directory;
    for (const sub of ['cur', 'new', 'tmp']) {
      if (!directories.has(`${dir}/${sub}`) && !manifest.part) errors.push(`${dir}/${sub} is missing`);
    }
    if (dir !== MAILDIR_ROOT && !files.has(`${dir}/maildirfolder`) && !manifest.part) {
      errors.push(`${dir}/maildirfolder is missing`);
    }
    const uidlist = files.text(`${dir}/dovecot-uidlist`);
    if (uidlist === undefined) {
      if (!manifest.part || manifest.part.index === 0) errors.push(`${dir}/dovecot-uidlist is missing`);
      continue;
    }
    const [header = '', ...lines] = uidlist.trimEnd().split('\n');
    const match = header.match(/^3 V(\d+) N(\d+)/);
    if (!match) {
      errors.push(`${dir}/dovecot-uidlist: bad header ${JSON.stringify(header)}`);
      continue;
    }
    const entries = new Map<number, string>();
    let previous = 0;
    for (const line of lines.filter(Boolean)) {
      const m = line.match(/^(\d+) :(.+)$/);
      if (!m) {
        errors.push(`${dir}/dovecot-uidlist: bad line ${JSON.stringify(line)}`);
        continue;
      }
      const uid = Number(m[1]);
      if (uid <= previous) errors.push(`${dir}/dovecot-uidlist: UIDs not ascending at ${uid}`);
      previous = uid;
      entries.set(uid, m[2] as string);
    }
    const validity = Number(match[1]);
    const next = Number(match[2]);
    if (validity !== folder.uidValidity)
      errors.push(`${dir}: UIDVALIDITY ${validity} != manifest ${folder.uidValidity}`);
    if (next <= previous)
      errors.push(`${dir}/dovecot-uidlist: N${next} is not above the largest UID ${previous}`);
    uidlists.set(folder.name, { validity, next, entries });
  }

  for (const message of manifest.messages) {
    const where = `${message.folder} UID ${message.uid} (${message.file})`;
    const facts = files.get(message.file);
    if (!facts) {
      // The received time too: what a user searching another copy for it has to go on.
      errors.push(`${where}: file missing (received ${message.receivedAt})`);
      continue;
    }
    const name = message.file.split('/').pop() ?? '';
    if (message.file.split('/').at(-2) !== 'cur') errors.push(`${where}: not in cur/`);
    const parsed = parseMessageFileName(name);
    if (!parsed) {
      errors.push(`${where}: file name does not follow the maildir rule`);
      continue;
    }
    if (parsed.fileSize !== undefined && parsed.fileSize !== facts.size) {
      errors.push(`${where}: S=${parsed.fileSize} but the file has ${facts.size} bytes`);
    }
    const virtual = facts.size + facts.bareLf;
    if (parsed.virtualSize !== undefined && parsed.virtualSize !== virtual) {
      errors.push(`${where}: W=${parsed.virtualSize} but RFC822.SIZE is ${virtual}`);
    }
    const original = message.storage === 'crlf-to-lf' ? facts.sha256Crlf : facts.sha256;
    const originalSize = message.storage === 'crlf-to-lf' ? facts.size + facts.bareLf : facts.size;
    if (original !== message.sha256)
      errors.push(`${where}: sha256 does not match the manifest: the bytes changed`);
    if (originalSize !== message.size)
      errors.push(`${where}: ${originalSize} bytes, manifest says ${message.size}`);
    const secs = Math.floor(Date.parse(message.receivedAt) / 1000);
    if (parsed.secs !== secs) errors.push(`${where}: name time ${parsed.secs} != received ${secs}`);
    if (facts.mtime && Math.floor(facts.mtime.getTime() / 1000) !== secs) {
      errors.push(`${where}: mtime ${facts.mtime.toISOString()} != received ${message.receivedAt}`);
    }
    // Upper-case letters are the system flags; lower-case ones are Dovecot keyword letters (dovecot-keywords).
    const systemLetters = parsed.flags.replace(/[a-z]/g, '');
    if (systemLetters !== flagLetters(message.flags))
      errors.push(`${where}: flags ${systemLetters} != ${flagLetters(message.flags)}`);
    const uidlist = uidlists.get(message.folder);
    if (uidlist && uidlist.entries.get(message.uid) !== parsed.baseName) {
      errors.push(`${where}: dovecot-uidlist does not list UID ${message.uid} for this file`);
    }
  }
}

function checkMbox(manifest: BundleManifest, mboxHashes: Map<string, string[]>, errors: string[]) {
  const expected = new Map<string, string[]>();
  for (const m of manifest.messages) expected.set(m.file, [...(expected.get(m.file) ?? []), m.sha256]);
  for (const [file, hashes] of expected) {
    const found = mboxHashes.get(file);
    if (!found) {
      errors.push(`${file}: missing`);
      continue;
    }
    if (found.length !== hashes.length)
      errors.push(`${file}: ${found.length} messages, manifest lists ${hashes.length}`);
    hashes.forEach((hash, i) => {
      if (found[i] !== hash)
        errors.push(`${file}: message ${i + 1} does not round-trip to its original bytes`);
    });
  }
}
