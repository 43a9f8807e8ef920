// The exporter: a mailbox from the index and the raw store into a tar.gz bundle, streamed end to end (raw
// objects -> tar entries -> gzip -> sink), reads prefetched with bounded concurrency, deterministic order
// (folders by name with INBOX first, messages by UID). The same code runs in the export Lambda (sink: an S3
// multipart upload) and in the CLI (sink: a file).
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import type tar from 'tar-stream';
import { deliveryIdentity } from '../delivery-log/record';
import { asError } from '../errors';
import type { FolderState } from '../index/schema';
import type { MailIndex, RawMailStore } from '../ports';
import { type BundleEncryption, encryptingStream } from './age';
import {
  bundleFolderPath,
  COURIER_SUBSCRIPTIONS,
  COURIER_UIDDB,
  compareFolders,
  DOVECOT_KEYWORDS,
  DOVECOT_SUBSCRIPTIONS,
  DOVECOT_UIDLIST,
  FOLDER_SUBDIRECTORIES,
  FolderKeywords,
  fileBaseName,
  MAILDIR_FOLDER_FILE,
  type MaildirMessage,
  maildirMessage,
  maildirSkeleton,
  manifestEntry,
  manifestHeader,
  manifestText,
  messageFilePath,
  messageStorage,
  uidFiles,
} from './layout';
import {
  bundleReadme,
  courierSubscriptions,
  dovecotKeywordsFile,
  dovecotSubscriptions,
  MAILDIR_ROOT,
  messageFileTime,
  storedForm,
} from './maildir';
import type { BundleFormat, BundleManifest, ManifestMessage } from './manifest';
import { escapeMboxrd, MboxrdEscape, mboxFromLine, messageSeparator } from './mbox';
import { messageBytes, prefetch } from './raw-reader';
import { addEntry, bundleWriter, Spool } from './tar';

export interface ExportRequest {
  mailbox: string;
  format: BundleFormat;
  /** Incremental: only messages with a UID above these, per folder (the previous export's lastUids). */
  after?: Record<string, number>;
  /** Raw objects read ahead of the tar writer. */
  readConcurrency?: number;
  /** Only messages with a UID up to these, per folder: a snapshot taken when the export started. */
  upTo?: Record<string, number>;
  /** Split the work: this bundle holds the messages whose position in UID order is i mod count (i = part). */
  part?: { index: number; count: number };
  onProgress?: (progress: { messages: number; total: number; rawBytes: number }) => void;
  /** For progress reports: how many messages the export is expected to write. */
  expectedTotal?: number;
  now?: Date;
  /** Encrypt the bundle with age as it is written (shared/bundle/age.ts); default: a plain tar.gz. */
  encryption?: BundleEncryption;
}

export interface ExportResult {
  /** The manifest's header; its message list is in the bundle. */
  manifest: Omit<BundleManifest, 'messages'>;
  /** Messages in this bundle. */
  messages: number;
  /** Of the bytes written to the sink: the tar.gz, or the age file that encrypts it. */
  sha256: string;
  bytes: number;
  rawBytes: number;
  /** The highest UID per folder at export time: the base of the next incremental export. */
  lastUids: Record<string, number>;
}

/** A message of a bundle as its transparency proof names it: where it is, and which delivery it is. */
export interface ProvenMessage {
  folder: string;
  uid: number;
  /** The delivery's identity (shared/delivery-log/record.ts deliveryIdentity). */
  identity: string;
}

/** A transparency file of a bundle: its size (bytes) and its bytes, or a stream of them (a spool file). */
export interface BundleProofFile {
  path: string;
  size: number;
  body: Buffer | AsyncIterable<Buffer>;
}

/** The proofs of one bundle's messages, written as each message is added (none held in memory). */
export interface BundleProver {
  /** Adds a message's proof (none when it is not a leaf of the log yet). */
  add(message: ProvenMessage): Promise<void>;
  /** The transparency files, in the order they go into the bundle; called once, after the last `add`. */
  files(): Promise<BundleProofFile[]>;
  /** Releases what the prover holds (its spool file); the export removes `spoolDir` itself. */
  close(): Promise<void>;
}

/**
 * The transparency log as an export reads it (shared/transparency/prove.ts logBundleProofs): for the checkpoint
 * sealed by `asOf`, a prover of the messages the bundle holds, spooling into the export's `spoolDir` (private);
 * undefined when the log was never sealed by then.
 */
export type BundleProofs = (asOf: Date, spoolDir: string) => Promise<BundleProver | undefined>;

export interface ExportDeps {
  index: MailIndex;
  store: RawMailStore;
  /** The transparency log, when bundles carry its proofs. @default no transparency files */
  proofs?: BundleProofs;
}

/**
 * Writes one mailbox (or one part of it, or what came after an earlier export) as a bundle into `sink`: a
 * tar.gz with a Dovecot- and Courier-readable maildir (or mboxrd files), the uidlists that keep every UID and
 * UIDVALIDITY, and manifest.json (manifest.ts) with each message's sha256 and size. Memory stays flat: rows are
 * scanned in UID order and spooled to disk, raw objects streamed or prefetched with `readConcurrency`.
 *
 * Returns the manifest's header, the message count, the sha256 (hex) and size (bytes) of the gzip stream
 * written, the raw bytes covered and the last UID per folder (the next incremental export's base). Throws
 * StoredBytesMismatchError when a stored object's sha256 is not the index's, and what the store, the index or
 * the sink throw; the sink is destroyed then. Formats: maildir(5) and Dovecot's "Maildir" docs (S=, W=,
 * dovecot-uidlist v3); mboxrd from the mbox(5) man page.
 */
export async function exportMailbox(
  deps: ExportDeps,
  request: ExportRequest,
  sink: Writable,
): Promise<ExportResult> {
  const now = request.now ?? new Date();
  // The sink is piped to at once: a sink that fails while the index is read (a file that cannot be opened) must
  // have its error reach this export, not become an uncaught 'error' event.
  const encryptor = request.encryption ? await encryptingStream(request.encryption) : undefined;
  const { pack, written, digest } = bundleWriter(sink, encryptor);
  let folders: FolderState[];
  let prover: BundleProver | undefined;
  // Nothing per message stays in memory: uidlists, the manifest's message list and the proofs are spooled to disk.
  const spoolDir = await mkdtemp(join(tmpdir(), 'mail-archiver-export-'));
  try {
    folders = [...(await deps.index.folders(request.mailbox))].sort((a, b) =>
      compareFolders(a.folder, b.folder),
    );
    // The checkpoint sealed by the export's start (runExportPart passes it as `now`: every part proves against
    // the same one), read before any message is written.
    prover = await deps.proofs?.(now, spoolDir);
  } catch (error) {
    pack.destroy(asError(error));
    await written.catch(() => undefined);
    await rm(spoolDir, { recursive: true, force: true });
    throw error;
  }

  const manifestSpool = new Spool(join(spoolDir, 'manifest.json'));
  await manifestSpool.append(manifestText.opening);
  let manifestCount = 0;
  const folderInfos: BundleManifest['folders'] = [];
  const lastUids: Record<string, number> = {};
  const progress = { messages: 0, total: request.expectedTotal ?? 0, rawBytes: 0 };
  const metadataPart = !request.part || request.part.index === 0;
  const validity = new Map(folders.map((f) => [f.folder, f.uidValidity]));
  const addToManifest = async (row: MaildirMessage, file: string, storage: ManifestMessage['storage']) => {
    await manifestSpool.append(
      manifestText.entry(manifestCount++, manifestEntry({ ...row, nul: row.lineEndings.nul }, file, storage)),
    );
    if (prover) {
      const uidValidity = validity.get(row.folder) ?? 0;
      const identity = deliveryIdentity({
        mailbox: request.mailbox,
        folder: row.folder,
        uidValidity,
        uid: row.uid,
      });
      await prover.add({ folder: row.folder, uid: row.uid, identity });
    }
    progress.messages += 1;
    progress.rawBytes += row.size;
    request.onProgress?.(progress);
  };

  try {
    if (request.format === 'maildir' && metadataPart) await writeMaildirSkeleton(pack, folders, now);
    for (const state of folders) {
      const directory =
        request.format === 'maildir' ? bundleFolderPath(state.folder) : mboxName(state.folder);
      const scan = new FolderScan(deps, request, state, spoolDir);
      if (request.format === 'maildir') {
        for await (const { row, body } of prefetch(
          deps.store,
          scan.selected(),
          request.readConcurrency ?? 16,
        )) {
          const form = storedForm(row.size, row.lineEndings);
          const file = `${directory}/${messageFilePath(fileBaseName(row), row.flags, scan.keywords.lettersOf(row.keywords))}`;
          await addEntry(
            pack,
            { name: file, size: form.fileSize, mtime: messageFileTime(row.receivedAt), mode: 0o600 },
            messageBytes(row, body, form.convertCrlf),
          );
          await addToManifest(row, file, messageStorage(row));
        }
        if (metadataPart) await writeFolderMetadata(pack, state, scan, directory, now);
      } else {
        await writeMboxFolder(pack, deps.store, scan, directory, request, spoolDir, addToManifest);
      }
      await scan.close();
      lastUids[state.folder] = scan.lastUid;
      folderInfos.push({
        name: state.folder,
        directory,
        uidValidity: state.uidValidity,
        nextUid: scan.lastUid + 1,
        messages: scan.count,
      });
    }
    if (request.format === 'maildir' && metadataPart) {
      const names = folders.map((f) => f.folder);
      await addEntry(
        pack,
        { name: `${MAILDIR_ROOT}/${DOVECOT_SUBSCRIPTIONS}`, mtime: now, mode: 0o600 },
        dovecotSubscriptions(names),
      );
      await addEntry(
        pack,
        { name: `${MAILDIR_ROOT}/${COURIER_SUBSCRIPTIONS}`, mtime: now, mode: 0o600 },
        courierSubscriptions(names),
      );
    }
    const manifest = manifestHeader({
      mailbox: request.mailbox,
      format: request.format,
      createdAt: now,
      after: request.after,
      part: request.part,
      folders: folderInfos,
    });
    for (const { path, size, body } of (await prover?.files()) ?? [])
      await addEntry(pack, { name: path, size, mtime: now, mode: 0o600 }, body);
    await manifestSpool.append(manifestText.closing(manifest));
    await manifestSpool.close();
    await addEntry(
      pack,
      { name: 'manifest.json', size: manifestSpool.bytes, mtime: now, mode: 0o600 },
      manifestSpool.read(),
    );
    await addEntry(pack, { name: 'README.txt', mtime: now, mode: 0o600 }, bundleReadme(request.mailbox));
    pack.finalize();
    await written;
    return {
      manifest,
      messages: manifestCount,
      ...digest(),
      rawBytes: progress.rawBytes,
      lastUids,
    };
  } catch (error) {
    pack.destroy(asError(error));
    // When the sink failed first (a directory that is not there, a full disk, an upload refused), tar-stream
    // only says "already finalized or destroyed" on the next entry: the sink's own error is the cause.
    const sinkError = await written.then(
      () => undefined,
      (e: unknown) => e,
    );
    if (sinkError && sinkError !== error && /already finalized or destroyed/.test(asError(error).message))
      throw sinkError;
    throw error;
  } finally {
    await manifestSpool.close().catch(() => undefined);
    await prover?.close();
    await rm(spoolDir, { recursive: true, force: true });
  }
}

/**
 * One pass over a folder's rows in UID order (as the index pages them): counts them, spools the uidlist lines of
 * every row, and yields the rows whose bytes go into this bundle (after the incremental base, in this part).
 */
class FolderScan {
  count = 0;
  lastUid = 0;
  /** The folder's keywords in order of first use over the whole folder (the same in every part). */
  readonly keywords = new FolderKeywords();
  readonly dovecot: Spool;
  readonly courier: Spool;

  constructor(
    private readonly deps: ExportDeps,
    private readonly request: ExportRequest,
    private readonly state: FolderState,
    spoolDir: string,
  ) {
    const safe = spoolName(state.folder);
    this.dovecot = new Spool(join(spoolDir, `${safe}.dovecot`));
    this.courier = new Spool(join(spoolDir, `${safe}.courier`));
  }

  async *selected(): AsyncGenerator<MaildirMessage> {
    const upTo = this.request.upTo ? (this.request.upTo[this.state.folder] ?? 0) : Number.POSITIVE_INFINITY;
    const after = this.request.after?.[this.state.folder] ?? 0;
    const part = this.request.part;
    let position = 0;
    for await (const full of this.deps.index.folderDeliveries(this.request.mailbox, this.state.folder)) {
      if (full.uid > upTo) continue;
      const row = maildirMessage(full);
      this.keywords.add(row.keywords);
      this.count += 1;
      this.lastUid = Math.max(this.lastUid, row.uid);
      const base = fileBaseName(row);
      await this.dovecot.append(uidFiles.dovecotLine(row.uid, base));
      await this.courier.append(uidFiles.courierLine(row.uid, base));
      if (row.uid <= after) continue;
      if (part && position++ % part.count !== part.index) continue;
      yield row;
    }
  }

  close(): Promise<void> {
    return Promise.all([this.dovecot.close(), this.courier.close()]).then(() => undefined);
  }
}

/** What an export would cover: used to snapshot UIDs and to decide whether to split the work. */
export async function summarizeExport(
  deps: ExportDeps,
  request: Pick<ExportRequest, 'mailbox' | 'after'>,
): Promise<{ messages: number; rawBytes: number; lastUids: Record<string, number> }> {
  const summary = { messages: 0, rawBytes: 0, lastUids: {} as Record<string, number> };
  for (const state of await deps.index.folders(request.mailbox)) {
    const after = request.after?.[state.folder] ?? 0;
    let last = 0;
    for await (const row of deps.index.folderDeliveries(request.mailbox, state.folder)) {
      last = Math.max(last, row.uid);
      if (row.uid <= after) continue;
      summary.messages += 1;
      summary.rawBytes += row.size;
    }
    summary.lastUids[state.folder] = last;
  }
  return summary;
}

async function writeMaildirSkeleton(pack: tar.Pack, folders: FolderState[], now: Date) {
  for (const folder of maildirSkeleton(folders.map((f) => f.folder))) {
    const directory = bundleFolderPath(folder);
    await addEntry(pack, { name: directory, type: 'directory', mode: 0o700, mtime: now });
    for (const sub of FOLDER_SUBDIRECTORIES) {
      await addEntry(pack, { name: `${directory}/${sub}`, type: 'directory', mode: 0o700, mtime: now });
    }
    if (folder !== 'INBOX')
      await addEntry(pack, { name: `${directory}/${MAILDIR_FOLDER_FILE}`, mode: 0o600, mtime: now }, '');
  }
}

/** The uid files: a header that needs the folder's last UID, then the spooled lines. */
async function writeFolderMetadata(
  pack: tar.Pack,
  state: FolderState,
  scan: FolderScan,
  directory: string,
  now: Date,
) {
  await scan.close();
  for (const [name, header, spool] of [
    [DOVECOT_UIDLIST, uidFiles.dovecotHeader(state.uidValidity, scan.lastUid), scan.dovecot],
    [COURIER_UIDDB, uidFiles.courierHeader(state.uidValidity, scan.lastUid), scan.courier],
  ] as const) {
    const head = Buffer.from(header);
    await addEntry(
      pack,
      { name: `${directory}/${name}`, size: head.length + spool.bytes, mode: 0o600, mtime: now },
      (async function* () {
        yield head;
        yield* spool.read();
      })(),
    );
  }
  await addEntry(
    pack,
    { name: `${directory}/${DOVECOT_KEYWORDS}`, mode: 0o600, mtime: now },
    dovecotKeywordsFile(scan.keywords.keywords),
  );
}

function mboxName(folder: string): string {
  return `${folder.replace(/[^A-Za-z0-9 _-]/g, '_')}.mbox`;
}

/**
 * A folder's spool file name: a digest of its name, 64 characters whatever the name's length (a folder name may
 * be as long as a file name, and its hex twice that: over the file system's 255 bytes).
 */
function spoolName(folder: string): string {
  return createHash('sha256').update(folder).digest('hex');
}

/** mboxrd: spooled to a temporary file per folder (a tar entry needs its size first), then added. */
async function writeMboxFolder(
  pack: tar.Pack,
  store: RawMailStore,
  scan: FolderScan,
  name: string,
  request: ExportRequest,
  spoolDir: string,
  addToManifest: (row: MaildirMessage, file: string, storage: ManifestMessage['storage']) => Promise<void>,
) {
  const spool = new Spool(join(spoolDir, `${spoolName(name)}.mbox`));
  let messages = 0;
  for await (const { row, body } of prefetch(store, scan.selected(), request.readConcurrency ?? 16)) {
    await spool.append(mboxFromLine('MAILER-DAEMON', new Date(row.receivedAt)));
    // Streamed bodies are checked against the index's sha256 on the way, as maildir files are.
    const bytes = messageBytes(row, body, false);
    const chunks = Buffer.isBuffer(bytes) ? [escapeMboxrd(bytes)] : escapeStream(bytes);
    let lastByte: number | undefined;
    for await (const chunk of chunks) {
      const buffer = chunk as Buffer;
      if (buffer.length) lastByte = buffer[buffer.length - 1];
      await spool.appendBytes(buffer);
    }
    await spool.appendBytes(messageSeparator(lastByte));
    await addToManifest(row, name, 'mboxrd');
    messages += 1;
  }
  await spool.close();
  if (messages > 0) {
    await addEntry(
      pack,
      { name, size: spool.bytes, mode: 0o600, mtime: request.now ?? new Date() },
      spool.read(),
    );
  }
}

/** A streamed body through MboxrdEscape; an error of the source (a sha256 mismatch) ends the escaped stream. */
function escapeStream(source: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  const escaper = new MboxrdEscape();
  const input = Readable.from(source);
  input.on('error', (error) => escaper.destroy(error));
  return input.pipe(escaper);
}
