// The exporter: a mailbox from the index and the raw store into a tar.gz bundle, streamed end to end (raw
// objects -> tar entries -> gzip -> sink), reads prefetched with bounded concurrency, deterministic order
// (folders by name with INBOX first, messages by UID). The same code runs in the export Lambda (sink: an S3
// multipart upload) and in the CLI (sink: a file).
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Transform, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import tar from 'tar-stream';
import type { DeliveryRow, FolderState } from './index-schema';
import {
  bundleReadme,
  CrlfToLfConverter,
  courierSubscriptions,
  courierUidDb,
  crlfToLf,
  dovecotKeywordsFile,
  dovecotSubscriptions,
  dovecotUidList,
  folderDirectory,
  folderWithAncestors,
  keywordAtom,
  keywordLetters,
  MAILDIR_ROOT,
  messageBaseName,
  messageFileName,
  storedForm,
} from './maildir';
import { escapeMboxrd, MboxrdEscape, mboxFromLine } from './mbox';
import type { MailIndex, RawMailStore } from './ports';

export type BundleFormat = 'maildir' | 'mboxrd';

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
}

export interface ManifestMessage {
  folder: string;
  uid: number;
  /** Path inside the bundle. */
  file: string;
  /** sha256 and size of the original bytes (as archived). */
  sha256: string;
  size: number;
  /** crlf-to-lf: the file is the original with every CRLF written as LF; as-is: the file is the original. */
  storage: 'crlf-to-lf' | 'as-is' | 'mboxrd';
  receivedAt: string;
  flags: string[];
  /** Dovecot serves NUL as 0x80: such messages cannot come back byte-identical over IMAP. */
  nul?: boolean;
}

export interface BundleManifest {
  format: 'mail-archiver-bundle';
  version: 1;
  bundleFormat: BundleFormat;
  mailbox: string;
  createdAt: string;
  incremental: boolean;
  after?: Record<string, number>;
  part?: { index: number; count: number };
  folders: { name: string; directory: string; uidValidity: number; nextUid: number; messages: number }[];
  messages: ManifestMessage[];
}

export interface ExportResult {
  /** The manifest's header; its message list is in the bundle. */
  manifest: Omit<BundleManifest, 'messages'>;
  /** Messages in this bundle. */
  messages: number;
  /** Of the tar.gz bytes written to the sink. */
  sha256: string;
  bytes: number;
  rawBytes: number;
  /** The highest UID per folder at export time: the base of the next incremental export. */
  lastUids: Record<string, number>;
}

export interface ExportDeps {
  index: MailIndex;
  store: RawMailStore;
}

/** Messages up to this size are read whole, ahead of the writer; larger ones are streamed in their turn. */
const PREFETCH_MAX_BYTES = 1024 * 1024;

export async function exportMailbox(
  deps: ExportDeps,
  request: ExportRequest,
  sink: Writable,
): Promise<ExportResult> {
  const now = request.now ?? new Date();
  const folders = sortFolders(await deps.index.folders(request.mailbox));
  const { pack, written, digest } = bundleWriter(sink);

  // Nothing per message stays in memory: uidlists and the manifest's message list are spooled to disk.
  const spoolDir = await mkdtemp(join(tmpdir(), 'mail-archiver-export-'));
  const manifestSpool = new Spool(join(spoolDir, 'manifest.json'));
  await manifestSpool.append('{\n "messages": [');
  let manifestCount = 0;
  const folderInfos: BundleManifest['folders'] = [];
  const lastUids: Record<string, number> = {};
  const progress = { messages: 0, total: request.expectedTotal ?? 0, rawBytes: 0 };
  const metadataPart = !request.part || request.part.index === 0;
  const addToManifest = async (row: ExportRow, file: string, storage: ManifestMessage['storage']) => {
    await manifestSpool.append(
      `${manifestCount++ ? ',' : ''}\n  ${JSON.stringify(manifestEntry(row, file, storage))}`,
    );
    progress.messages += 1;
    progress.rawBytes += row.size;
    request.onProgress?.(progress);
  };

  try {
    if (request.format === 'maildir' && metadataPart) await writeMaildirSkeleton(pack, folders, now);
    for (const state of folders) {
      const directory =
        request.format === 'maildir'
          ? `${MAILDIR_ROOT}/${folderDirectory(state.folder)}`.replace(/\/$/, '')
          : mboxName(state.folder);
      const scan = new FolderScan(deps, request, state, spoolDir);
      if (request.format === 'maildir') {
        for await (const { row, body } of prefetch(
          deps.store,
          scan.selected(),
          request.readConcurrency ?? 16,
        )) {
          const form = storedForm(row.size, row.lineEndings);
          const file = `${directory}/cur/${messageFileName(fileBaseName(row), row.flags)}${scan.lettersOf(row)}`;
          await addEntry(
            pack,
            { name: file, size: form.fileSize, mtime: new Date(row.receivedAt), mode: 0o600 },
            messageBytes(row, body, form.convertCrlf),
          );
          await addToManifest(row, file, form.convertCrlf ? 'crlf-to-lf' : 'as-is');
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
        { name: `${MAILDIR_ROOT}/subscriptions`, mtime: now, mode: 0o600 },
        dovecotSubscriptions(names),
      );
      await addEntry(
        pack,
        { name: `${MAILDIR_ROOT}/courierimapsubscribed`, mtime: now, mode: 0o600 },
        courierSubscriptions(names),
      );
    }
    const manifest: Omit<BundleManifest, 'messages'> = {
      format: 'mail-archiver-bundle',
      version: 1,
      bundleFormat: request.format,
      mailbox: request.mailbox,
      createdAt: now.toISOString(),
      incremental: request.after !== undefined,
      ...(request.after ? { after: request.after } : {}),
      ...(request.part ? { part: request.part } : {}),
      folders: folderInfos,
    };
    // The manifest's other fields follow its message list (JSON does not care about the order of keys).
    const rest = JSON.stringify(manifest, null, 1).slice(1);
    await manifestSpool.append(`\n ],${rest}\n`);
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
    pack.destroy(error as Error);
    await written.catch(() => undefined);
    throw error;
  } finally {
    await manifestSpool.close().catch(() => undefined);
    await rm(spoolDir, { recursive: true, force: true });
  }
}

/** tar -> gzip -> sink, with the sha256 and size of what reaches the sink. */
function bundleWriter(sink: Writable) {
  // Buffers sized so that small messages flow through without a round trip to zlib's thread per entry.
  const pack = tar.pack({ highWaterMark: 1024 * 1024 } as object);
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new PassThrough();
  tap.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
  });
  const written = pipeline(
    pack as unknown as Readable,
    new Coalesce(),
    createGzip({ chunkSize: 256 * 1024 }),
    tap,
    sink,
  );
  written.catch(() => undefined);
  return { pack, written, digest: () => ({ sha256: hash.digest('hex'), bytes }) };
}

/**
 * tar-stream emits a 512-byte header, the body and the padding of every entry as separate chunks; handed one by
 * one to zlib (a thread-pool round trip each) that is 4x slower than gzip itself. Gathered into 256 KB first.
 */
class Coalesce extends Transform {
  private parts: Buffer[] = [];
  private size = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.parts.push(chunk);
    this.size += chunk.length;
    if (this.size < 256 * 1024) {
      callback();
      return;
    }
    const gathered = Buffer.concat(this.parts);
    this.parts = [];
    this.size = 0;
    callback(null, gathered);
  }

  override _flush(callback: TransformCallback): void {
    callback(null, this.size ? Buffer.concat(this.parts) : undefined);
  }
}

/** Lines appended to a temporary file (in 64 KB writes), counted in bytes, read back as a tar entry. */
class Spool {
  private readonly out: import('node:fs').WriteStream;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  bytes = 0;
  private closed?: Promise<void>;

  constructor(readonly path: string) {
    this.out = createWriteStream(path);
  }

  append(text: string): Promise<void> {
    return this.appendBytes(Buffer.from(text));
  }

  appendBytes(bytes: Buffer): Promise<void> {
    this.bytes += bytes.length;
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    return this.pendingBytes >= 64 * 1024 ? this.flush() : Promise.resolve();
  }

  private flush(): Promise<void> {
    if (this.pendingBytes === 0) return Promise.resolve();
    const chunk = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    return this.out.write(chunk) ? Promise.resolve() : new Promise((r) => this.out.once('drain', () => r()));
  }

  close(): Promise<void> {
    this.closed ??= this.flush().then(
      () => new Promise((resolve, reject) => this.out.end((e?: Error | null) => (e ? reject(e) : resolve()))),
    );
    return this.closed;
  }

  read(): AsyncIterable<Buffer> {
    return createReadStream(this.path);
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
  readonly keywords: string[] = [];
  readonly dovecot: Spool;
  readonly courier: Spool;

  constructor(
    private readonly deps: ExportDeps,
    private readonly request: ExportRequest,
    private readonly state: FolderState,
    spoolDir: string,
  ) {
    const safe = Buffer.from(state.folder).toString('hex');
    this.dovecot = new Spool(join(spoolDir, `${safe}.dovecot`));
    this.courier = new Spool(join(spoolDir, `${safe}.courier`));
  }

  async *selected(): AsyncGenerator<ExportRow> {
    const upTo = this.request.upTo ? (this.request.upTo[this.state.folder] ?? 0) : Number.POSITIVE_INFINITY;
    const after = this.request.after?.[this.state.folder] ?? 0;
    const part = this.request.part;
    let position = 0;
    for await (const full of this.deps.index.folderDeliveries(this.request.mailbox, this.state.folder)) {
      if (full.uid > upTo) continue;
      const row = exportRow(full);
      for (const keyword of row.keywords ?? [])
        if (!this.keywords.includes(keyword) && this.keywords.length < 26) this.keywords.push(keyword);
      this.count += 1;
      this.lastUid = Math.max(this.lastUid, row.uid);
      const base = fileBaseName(row);
      await this.dovecot.append(`${row.uid} :${base}\n`);
      await this.courier.append(`${row.uid} ${base}\n`);
      if (row.uid <= after) continue;
      if (part && position++ % part.count !== part.index) continue;
      yield row;
    }
  }

  /** Dovecot keyword letters of a row (a folder holds at most 26 keywords; later ones stay in the manifest). */
  lettersOf(row: ExportRow): string {
    return keywordLetters((row.keywords ?? []).map((k) => this.keywords.indexOf(k)));
  }

  close(): Promise<void> {
    return Promise.all([this.dovecot.close(), this.courier.close()]).then(() => undefined);
  }
}

/**
 * Joins the parts of a split export into one bundle: every entry of every part in order, one merged manifest.
 * Extracting the joined bundle gives the same tree as extracting all parts.
 */
export async function joinBundles(
  parts: (() => Promise<Readable>)[],
  sink: Writable,
): Promise<{ sha256: string; bytes: number; manifest: BundleManifest }> {
  const { pack, written, digest } = bundleWriter(sink);
  const manifests: BundleManifest[] = [];
  try {
    for (const open of parts) {
      const extract = tar.extract();
      const reading = pipeline(await open(), createGunzip(), extract as unknown as NodeJS.WritableStream);
      reading.catch(() => undefined);
      for await (const entry of extract) {
        const { header } = entry;
        if (header.name === 'manifest.json') {
          const chunks: Buffer[] = [];
          for await (const chunk of entry as AsyncIterable<Buffer>) chunks.push(chunk);
          manifests.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as BundleManifest);
        } else if (header.name === 'README.txt') {
          entry.resume();
        } else {
          await addEntry(pack, { ...header, name: header.name }, entry as AsyncIterable<Buffer>);
        }
      }
      await reading;
    }
    const first = manifests[0];
    if (!first) throw new Error('no part had a manifest');
    const folderOrder = new Map(first.folders.map((f, i) => [f.name, i]));
    const { part: _part, ...base } = first;
    const manifest: BundleManifest = {
      ...base,
      messages: manifests
        .flatMap((m) => m.messages)
        .sort((a, b) => (folderOrder.get(a.folder) ?? 0) - (folderOrder.get(b.folder) ?? 0) || a.uid - b.uid),
    };
    await addEntry(
      pack,
      { name: 'manifest.json', mtime: new Date(first.createdAt), mode: 0o600 },
      `${JSON.stringify(manifest, null, 1)}\n`,
    );
    await addEntry(
      pack,
      { name: 'README.txt', mtime: new Date(first.createdAt), mode: 0o600 },
      bundleReadme(first.mailbox),
    );
    pack.finalize();
    await written;
    return { ...digest(), manifest };
  } catch (error) {
    pack.destroy(error as Error);
    throw error;
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

/** What the exporter keeps of a row: a few hundred bytes, so that memory stays nearly flat with mailbox size. */
type ExportRow = Pick<
  DeliveryRow,
  'folder' | 'uid' | 'sha256' | 'size' | 'receivedAt' | 'flags' | 'lineEndings' | 'messageKey' | 'raw'
> & {
  /** The row's keywords as IMAP atoms (maildir.keywordAtom). */
  keywords?: string[];
};

function exportRow(row: DeliveryRow): ExportRow {
  const { folder, uid, sha256, size, receivedAt, flags, lineEndings, messageKey, raw } = row;
  const keywords = row.keywords?.length ? [...new Set(row.keywords.map(keywordAtom))] : undefined;
  return {
    folder,
    uid,
    sha256,
    size,
    receivedAt,
    flags,
    lineEndings,
    messageKey,
    raw,
    ...(keywords ? { keywords } : {}),
  };
}

function sortFolders(folders: FolderState[]): FolderState[] {
  return [...folders].sort((a, b) =>
    a.folder === 'INBOX'
      ? -1
      : b.folder === 'INBOX'
        ? 1
        : a.folder < b.folder
          ? -1
          : a.folder > b.folder
            ? 1
            : 0,
  );
}

/** The deterministic file name of a row: the same in every export, full or incremental. */
export function fileBaseName(row: ExportRow): string {
  const form = storedForm(row.size, row.lineEndings);
  return messageBaseName({
    receivedAt: new Date(row.receivedAt),
    id: row.messageKey,
    fileSize: form.fileSize,
    virtualSize: form.virtualSize,
  });
}

function manifestEntry(row: ExportRow, file: string, storage: ManifestMessage['storage']): ManifestMessage {
  return {
    folder: row.folder,
    uid: row.uid,
    file,
    sha256: row.sha256,
    size: row.size,
    storage,
    receivedAt: row.receivedAt,
    flags: row.keywords ? [...row.flags, ...row.keywords] : row.flags,
    ...(row.lineEndings.nul ? { nul: true } : {}),
  };
}

async function writeMaildirSkeleton(pack: tar.Pack, folders: FolderState[], now: Date) {
  const all = new Set<string>(['INBOX']);
  for (const f of folders) for (const name of folderWithAncestors(f.folder)) all.add(name);
  for (const folder of [...all].sort()) {
    const directory = `${MAILDIR_ROOT}/${folderDirectory(folder)}`.replace(/\/$/, '');
    await addEntry(pack, { name: directory, type: 'directory', mode: 0o700, mtime: now });
    for (const sub of ['cur', 'new', 'tmp']) {
      await addEntry(pack, { name: `${directory}/${sub}`, type: 'directory', mode: 0o700, mtime: now });
    }
    if (folder !== 'INBOX')
      await addEntry(pack, { name: `${directory}/maildirfolder`, mode: 0o600, mtime: now }, '');
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
  const next = scan.lastUid + 1;
  for (const [name, header, spool] of [
    ['dovecot-uidlist', dovecotUidList(state.uidValidity, next, []), scan.dovecot],
    ['courierimapuiddb', courierUidDb(state.uidValidity, next, []), scan.courier],
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
    { name: `${directory}/dovecot-keywords`, mode: 0o600, mtime: now },
    dovecotKeywordsFile(scan.keywords),
  );
}

type Body = Buffer | (() => Promise<AsyncIterable<Uint8Array>>);

/** Reads ahead: up to `concurrency` small messages are fetched whole while the writer works. */
async function* prefetch(
  store: RawMailStore,
  rows: AsyncIterable<ExportRow>,
  concurrency: number,
): AsyncGenerator<{ row: ExportRow; body: Body }> {
  const start = (row: ExportRow): Promise<Body> => {
    if (row.size > PREFETCH_MAX_BYTES) return Promise.resolve(() => store.read(row.raw));
    const read = withRetries(() => readAll(store, row));
    read.catch(() => undefined);
    return read;
  };
  const source = rows[Symbol.asyncIterator]();
  const queue: { row: ExportRow; body: Promise<Body> }[] = [];
  let exhausted = false;
  const fill = async () => {
    while (!exhausted && queue.length < concurrency) {
      const next = await source.next();
      if (next.done) exhausted = true;
      else queue.push({ row: next.value, body: start(next.value) });
    }
  };
  await fill();
  while (queue.length > 0) {
    const { row, body } = queue.shift() as { row: ExportRow; body: Promise<Body> };
    const ready = await body;
    await fill();
    yield { row, body: ready };
  }
}

async function readAll(store: RawMailStore, row: ExportRow): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of await store.read(row.raw)) chunks.push(chunk);
  // One chunk (a small object read whole) is used as it is: copying it doubled the exporter's garbage.
  const only = chunks.length === 1 ? chunks[0] : undefined;
  const bytes = only ? Buffer.from(only.buffer, only.byteOffset, only.byteLength) : Buffer.concat(chunks);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== row.sha256) throw new StoredBytesMismatch(row, sha256);
  return bytes;
}

/** The raw object is not what the index says was archived: reading it again will not help. */
class StoredBytesMismatch extends Error {
  constructor(row: ExportRow, sha256: string) {
    super(`${row.raw.key}: stored bytes do not match the index (sha256 ${sha256} != ${row.sha256})`);
  }
}

async function withRetries<T>(fn: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= attempts || error instanceof StoredBytesMismatch) throw error;
      await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
    }
  }
}

/** The bytes of one message as its file holds them, checked against the index's sha256 on the way. */
function messageBytes(row: ExportRow, body: Body, convertCrlf: boolean): Buffer | AsyncIterable<Buffer> {
  if (Buffer.isBuffer(body)) return convertCrlf ? crlfToLf(body) : body;
  return (async function* () {
    const hash = createHash('sha256');
    const converter = convertCrlf ? new CrlfToLfConverter() : undefined;
    for await (const chunk of await body()) {
      const buffer = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      hash.update(buffer);
      yield converter ? converter.push(buffer) : buffer;
    }
    const tail = converter?.flush();
    if (tail?.length) yield tail;
    const sha256 = hash.digest('hex');
    if (sha256 !== row.sha256) throw new StoredBytesMismatch(row, sha256);
  })();
}

/** The largest mtime tar-stream's header encoder keeps (a signed 32-bit number of seconds). */
const MAX_HEADER_MTIME = 2 ** 31 - 1;

/** Adds one entry, honouring backpressure, and resolves when tar-stream has taken all of it. */
function addEntry(
  pack: tar.Pack,
  header: Partial<tar.Header> & { name: string },
  body?: string | Buffer | AsyncIterable<Buffer>,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const content = typeof body === 'string' ? Buffer.from(body) : body;
    const size =
      header.type === 'directory' ? 0 : (header.size ?? (Buffer.isBuffer(content) ? content.length : 0));
    // A date before 1970 (an import of old mail) also goes in a pax record: GNU tar reads tar-stream's base-256
    // negative mtime as "implausibly old" and unpacks it as 1901.
    // So does a date from 2038-01-19 on: tar-stream writes the header's mtime through a 32-bit integer (`| 0`),
    // which wraps 2040 to 1904 and 2300 to 2027; the header then carries the largest value that survives.
    const secs = header.mtime ? Math.floor(header.mtime.getTime() / 1000) : 0;
    const pax =
      secs < 0 || secs > MAX_HEADER_MTIME
        ? {
            pax: { ...(header.pax ?? {}), mtime: String(secs) },
            ...(secs > MAX_HEADER_MTIME ? { mtime: new Date(MAX_HEADER_MTIME * 1000) } : {}),
          }
        : {};
    const entry = pack.entry({ uid: 0, gid: 0, ...header, ...pax, size }, (error) =>
      error ? reject(error) : resolve(),
    );
    if (content === undefined || header.type === 'directory') {
      entry.end(Buffer.alloc(0));
      return;
    }
    if (Buffer.isBuffer(content)) {
      entry.end(content);
      return;
    }
    (async () => {
      for await (const chunk of content) {
        if (!entry.write(chunk)) await new Promise<void>((r) => entry.once('drain', () => r()));
      }
      entry.end(Buffer.alloc(0));
    })().catch((error: Error) => {
      entry.destroy(error);
      reject(error);
    });
  });
}

function mboxName(folder: string): string {
  return `${folder.replace(/[^A-Za-z0-9 _-]/g, '_')}.mbox`;
}

/** mboxrd: spooled to a temporary file per folder (a tar entry needs its size first), then added. */
async function writeMboxFolder(
  pack: tar.Pack,
  store: RawMailStore,
  scan: FolderScan,
  name: string,
  request: ExportRequest,
  spoolDir: string,
  addToManifest: (row: ExportRow, file: string, storage: ManifestMessage['storage']) => Promise<void>,
) {
  const spool = new Spool(join(spoolDir, `${Buffer.from(name).toString('hex')}.mbox`));
  let messages = 0;
  for await (const { row, body } of prefetch(store, scan.selected(), request.readConcurrency ?? 16)) {
    await spool.append(mboxFromLine('MAILER-DAEMON', new Date(row.receivedAt)));
    const chunks = Buffer.isBuffer(body)
      ? [escapeMboxrd(body)]
      : Readable.from(await body()).pipe(new MboxrdEscape());
    for await (const chunk of chunks) await spool.appendBytes(chunk as Buffer);
    await spool.append('\n');
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
