// The exporter: a mailbox from the index and the raw store into a tar.gz bundle, streamed end to end (raw
// objects -> tar entries -> gzip -> sink), reads prefetched with bounded concurrency, deterministic order
// (folders by name with INBOX first, messages by UID). The same code runs in the export Lambda (sink: an S3
// multipart upload) and in the CLI (sink: a file).
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, type Writable } from 'node:stream';
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
  dovecotSubscriptions,
  dovecotUidList,
  folderDirectory,
  folderWithAncestors,
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
  manifest: BundleManifest;
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
  const plan = await planFolders(deps, request, folders);
  const total = plan.reduce((n, f) => n + f.selected.length, 0);

  const pack = tar.pack();
  const gzip = createGzip();
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new PassThrough();
  tap.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
  });
  const written = pipeline(pack as unknown as Readable, gzip, tap, sink);
  written.catch(() => undefined);

  const manifest: BundleManifest = {
    format: 'mail-archiver-bundle',
    version: 1,
    bundleFormat: request.format,
    mailbox: request.mailbox,
    createdAt: now.toISOString(),
    incremental: request.after !== undefined,
    ...(request.after ? { after: request.after } : {}),
    ...(request.part ? { part: request.part } : {}),
    folders: plan.map((f) => ({
      name: f.state.folder,
      directory:
        request.format === 'maildir'
          ? `${MAILDIR_ROOT}/${folderDirectory(f.state.folder)}`.replace(/\/$/, '')
          : `${mboxName(f.state.folder)}`,
      uidValidity: f.state.uidValidity,
      nextUid: (f.rows.at(-1)?.uid ?? 0) + 1,
      messages: f.rows.length,
    })),
    messages: [],
  };
  const progress = { messages: 0, total, rawBytes: 0 };
  const writeOnly = !request.part || request.part.index === 0;

  try {
    if (request.format === 'maildir') {
      if (writeOnly) await writeMaildirSkeleton(pack, plan, now);
      for (const folder of plan) {
        const directory = `${MAILDIR_ROOT}/${folderDirectory(folder.state.folder)}`.replace(/\/$/, '');
        for await (const { row, body } of prefetch(
          deps.store,
          folder.selected,
          request.readConcurrency ?? 16,
        )) {
          const form = storedForm(row.size, row.lineEndings);
          const name = messageFileName(fileBaseName(row), row.flags);
          const file = `${directory}/cur/${name}`;
          await addEntry(
            pack,
            { name: file, size: form.fileSize, mtime: new Date(row.receivedAt), mode: 0o600 },
            messageBytes(row, body, form.convertCrlf),
          );
          manifest.messages.push(manifestEntry(row, file, form.convertCrlf ? 'crlf-to-lf' : 'as-is'));
          progress.messages += 1;
          progress.rawBytes += row.size;
          request.onProgress?.(progress);
        }
        if (writeOnly) await writeFolderMetadata(pack, folder, directory, now);
      }
      if (writeOnly) {
        const names = plan.map((f) => f.state.folder);
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
    } else {
      for (const folder of plan) {
        await writeMboxFolder(pack, deps.store, folder, request, manifest, progress);
      }
    }
    await addEntry(
      pack,
      { name: 'manifest.json', mtime: now, mode: 0o600 },
      `${JSON.stringify(manifest, null, 1)}\n`,
    );
    await addEntry(pack, { name: 'README.txt', mtime: now, mode: 0o600 }, bundleReadme(request.mailbox));
    pack.finalize();
  } catch (error) {
    pack.destroy(error as Error);
    await written.catch(() => undefined);
    throw error;
  }
  await written;
  const lastUids = Object.fromEntries(plan.map((f) => [f.state.folder, f.rows.at(-1)?.uid ?? 0]));
  return { manifest, sha256: hash.digest('hex'), bytes, rawBytes: progress.rawBytes, lastUids };
}

/**
 * Joins the parts of a split export into one bundle: every entry of every part in order, one merged manifest.
 * Extracting the joined bundle gives the same tree as extracting all parts.
 */
export async function joinBundles(
  parts: (() => Promise<Readable>)[],
  sink: Writable,
): Promise<{ sha256: string; bytes: number; manifest: BundleManifest }> {
  const pack = tar.pack();
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new PassThrough();
  tap.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
  });
  const written = pipeline(pack as unknown as Readable, createGzip(), tap, sink);
  written.catch(() => undefined);
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
    return { sha256: hash.digest('hex'), bytes, manifest };
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
  const folders = sortFolders(await deps.index.folders(request.mailbox));
  const plan = await planFolders(deps, { ...request, format: 'maildir' }, folders);
  return {
    messages: plan.reduce((n, f) => n + f.selected.length, 0),
    rawBytes: plan.reduce((n, f) => n + f.selected.reduce((m, r) => m + r.size, 0), 0),
    lastUids: Object.fromEntries(plan.map((f) => [f.state.folder, f.rows.at(-1)?.uid ?? 0])),
  };
}

interface FolderPlan {
  state: FolderState;
  /** Every row of the folder (the uidlists list them all, even in an incremental bundle). */
  rows: DeliveryRow[];
  /** The rows whose bytes go into this bundle. */
  selected: DeliveryRow[];
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

async function planFolders(
  deps: ExportDeps,
  request: ExportRequest,
  folders: FolderState[],
): Promise<FolderPlan[]> {
  const plans: FolderPlan[] = [];
  for (const state of folders) {
    const rows: DeliveryRow[] = [];
    const upTo = request.upTo ? (request.upTo[state.folder] ?? 0) : Number.POSITIVE_INFINITY;
    for await (const row of deps.index.folderDeliveries(request.mailbox, state.folder)) {
      if (row.uid <= upTo) rows.push(row);
    }
    rows.sort((a, b) => a.uid - b.uid);
    const after = request.after?.[state.folder] ?? 0;
    const part = request.part;
    const selected = rows
      .filter((row) => row.uid > after)
      .filter((_, i) => !part || i % part.count === part.index);
    plans.push({ state, rows, selected });
  }
  return plans;
}

/** The deterministic file name of a row: the same in every export, full or incremental. */
export function fileBaseName(row: DeliveryRow): string {
  const form = storedForm(row.size, row.lineEndings);
  return messageBaseName({
    receivedAt: new Date(row.receivedAt),
    id: row.messageKey,
    fileSize: form.fileSize,
    virtualSize: form.virtualSize,
  });
}

function manifestEntry(row: DeliveryRow, file: string, storage: ManifestMessage['storage']): ManifestMessage {
  return {
    folder: row.folder,
    uid: row.uid,
    file,
    sha256: row.sha256,
    size: row.size,
    storage,
    receivedAt: row.receivedAt,
    flags: row.flags,
    ...(row.lineEndings.nul ? { nul: true } : {}),
  };
}

async function writeMaildirSkeleton(pack: tar.Pack, plan: FolderPlan[], now: Date) {
  const all = new Set<string>(['INBOX']);
  for (const f of plan) for (const name of folderWithAncestors(f.state.folder)) all.add(name);
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

async function writeFolderMetadata(pack: tar.Pack, folder: FolderPlan, directory: string, now: Date) {
  const entries = folder.rows.map((row) => ({ uid: row.uid, baseName: fileBaseName(row) }));
  const next = (folder.rows.at(-1)?.uid ?? 0) + 1;
  await addEntry(
    pack,
    { name: `${directory}/dovecot-uidlist`, mode: 0o600, mtime: now },
    dovecotUidList(folder.state.uidValidity, next, entries),
  );
  await addEntry(
    pack,
    { name: `${directory}/courierimapuiddb`, mode: 0o600, mtime: now },
    courierUidDb(folder.state.uidValidity, next, entries),
  );
  await addEntry(pack, { name: `${directory}/dovecot-keywords`, mode: 0o600, mtime: now }, '');
}

type Body = Buffer | (() => Promise<AsyncIterable<Uint8Array>>);

/** Reads ahead: up to `concurrency` small messages are fetched whole while the writer works. */
async function* prefetch(
  store: RawMailStore,
  rows: DeliveryRow[],
  concurrency: number,
): AsyncGenerator<{ row: DeliveryRow; body: Body }> {
  const start = (row: DeliveryRow): Promise<Body> => {
    if (row.size > PREFETCH_MAX_BYTES) return Promise.resolve(() => store.read(row.raw));
    const read = withRetries(() => readAll(store, row));
    read.catch(() => undefined);
    return read;
  };
  const queue: Promise<Body>[] = [];
  let next = 0;
  while (next < rows.length && queue.length < concurrency) queue.push(start(rows[next++] as DeliveryRow));
  for (let i = 0; i < rows.length; i++) {
    const body = await (queue.shift() as Promise<Body>);
    if (next < rows.length) queue.push(start(rows[next++] as DeliveryRow));
    yield { row: rows[i] as DeliveryRow, body };
  }
}

async function readAll(store: RawMailStore, row: DeliveryRow): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of await store.read(row.raw)) chunks.push(chunk);
  const bytes = Buffer.concat(chunks);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== row.sha256) {
    throw new Error(
      `${row.raw.key}: stored bytes do not match the index (sha256 ${sha256} != ${row.sha256})`,
    );
  }
  return bytes;
}

async function withRetries<T>(fn: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= attempts || /do not match the index/.test((error as Error).message)) throw error;
      await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
    }
  }
}

/** The bytes of one message as its file holds them, checked against the index's sha256 on the way. */
function messageBytes(row: DeliveryRow, body: Body, convertCrlf: boolean): Buffer | AsyncIterable<Buffer> {
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
    if (hash.digest('hex') !== row.sha256)
      throw new Error(`${row.raw.key}: stored bytes do not match the index`);
  })();
}

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
    const entry = pack.entry({ uid: 0, gid: 0, ...header, size }, (error) =>
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
  folder: FolderPlan,
  request: ExportRequest,
  manifest: BundleManifest,
  progress: { messages: number; total: number; rawBytes: number },
) {
  if (folder.selected.length === 0) return;
  const dir = await mkdtemp(join(tmpdir(), 'mail-archiver-mbox-'));
  const path = join(dir, 'folder.mbox');
  const name = mboxName(folder.state.folder);
  try {
    const out = createWriteStream(path);
    const write = (chunk: Buffer | string) =>
      out.write(chunk) ? Promise.resolve() : new Promise<void>((r) => out.once('drain', () => r()));
    for await (const { row, body } of prefetch(store, folder.selected, request.readConcurrency ?? 16)) {
      await write(mboxFromLine('MAILER-DAEMON', new Date(row.receivedAt)));
      if (Buffer.isBuffer(body)) {
        await write(escapeMboxrd(body));
      } else {
        const escaper = new MboxrdEscape();
        const source = Readable.from(await body()).pipe(escaper);
        for await (const chunk of source) await write(chunk as Buffer);
      }
      await write('\n');
      manifest.messages.push(manifestEntry(row, name, 'mboxrd'));
      progress.messages += 1;
      progress.rawBytes += row.size;
      request.onProgress?.(progress);
    }
    await new Promise<void>((resolve, reject) =>
      out.end((error?: Error | null) => (error ? reject(error) : resolve())),
    );
    const { size } = await stat(path);
    await addEntry(
      pack,
      { name, size, mode: 0o600, mtime: request.now ?? new Date() },
      createReadStream(path),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
