// Every run-time correction of s3rver 3.7.1 (pinned; no release since 2021), in one place, each with the test that
// fails without it. What would replace s3rver altogether: docs/local-services.md.
//  - answerPutsOnceWritten: a GET right after a PUT sees the whole object (a race on busy cores: the corpora
//    ingest test, test/integration/corpora-ingest.test.ts, caught it about once in five runs; 80 put-then-get
//    rounds pass without the correction on this machine, so no test of its own).
//  - rememberBucketSettings: bucket CORS/website settings kept in memory, a put or delete seen at once
//    (test/integration/local-listing.test.ts, "shows a bucket CORS setting put, then deleted").
//  - continueListingsWithoutDes: ListObjectsV2 past 1,000 keys on OpenSSL 3 (test/integration/local-listing.test.ts).
//  - listWithoutRereading: a listing's pages read a large folder once, not once a page, and stat no file
//    (test/integration/local-listing.test.ts; the growth it removes: docs/benchmarks.md, Scale).
//  - honourIfNoneMatch (cli/local/conditional-writes.ts): S3's conditional PUT (If-None-Match: *) for the
//    transparency log's write-once files.
//  - requireAccessKeyId (cli/local/s3-access.ts): unsigned requests and other key ids get 403
//    (test/e2e/local-privacy.test.ts, "s3rver refuses unsigned requests and other key ids").
// Beside the corrections, patchS3rver installs the Object Lock layer (cli/local/object-lock/layer.ts: versioning,
// retention, legal holds), which must sit between s3rver's XML encoder and the listing correction.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, readdirSync, statSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type S3rver from 's3rver';
import { honourIfNoneMatch } from './conditional-writes';
import { installObjectLockLayer } from './object-lock/layer';
import { type GuardedApp, requireAccessKeyId } from './s3-access';

/**
 * Applies every correction and the Object Lock layer (its journal under `dataDir`; `governanceBypassKeyIds` may
 * bypass governance retention) to `server` before it runs; with `credentials`, s3rver's one account gets that key
 * pair and every request must be signed with its key id.
 */
export function patchS3rver(
  server: S3rver,
  options: {
    dataDir: string;
    credentials?: { accessKeyId: string; secretAccessKey: string };
    governanceBypassKeyIds?: string[];
  },
): void {
  const { dataDir, credentials, governanceBypassKeyIds } = options;
  answerPutsOnceWritten((server as unknown as { store: S3rverStore }).store);
  rememberBucketSettings((server as unknown as { store: SubresourceStore }).store);
  listWithoutRereading((server as unknown as { store: ListingStore }).store);
  continueListingsWithoutDes(server as unknown as KoaLike);
  honourIfNoneMatch(server as unknown as Parameters<typeof honourIfNoneMatch>[0]);
  // Spliced in at [2] after the listing correction was: the layer runs first, then the listing correction.
  installObjectLockLayer(server, { dataDir, ...(governanceBypassKeyIds ? { governanceBypassKeyIds } : {}) });
  if (credentials) {
    // s3rver knows one account; its signature check looks the key id up there (V4 signatures it never checks).
    const { DUMMY_ACCOUNT } = createRequire(import.meta.url)('s3rver/lib/models/account') as {
      DUMMY_ACCOUNT: { createKeyPair(accessKeyId: string, secretAccessKey: string): void };
    };
    DUMMY_ACCOUNT.createKeyPair(credentials.accessKeyId, credentials.secretAccessKey);
    requireAccessKeyId(server as unknown as GuardedApp, credentials.accessKeyId);
  }
}

/** The parts of s3rver 3.7.1's FilesystemStore (pinned) that the fix below relies on. */
interface S3rverStore {
  getResourcePath(bucket: string, key: string, kind: 'object'): string;
  putMetadata(bucket: string, key: string, metadata: unknown, md5: string): Promise<void>;
  putObject(object: {
    bucket: string;
    key: string;
    content: Buffer | Readable;
    metadata: unknown;
  }): Promise<{ size: number; md5: string }>;
}

/**
 * s3rver answers a PUT once its hashing stream has taken the body, before the object's file is written and
 * closed: a GET right after could find no object, or an empty one (ingest then indexed the sha256 of nothing; the
 * corpora test caught it about once in five runs on 2 busy cores). The same write, answered once the file is closed,
 * and written beside the object then renamed over it, so that a reader sees the old object or the new one whole,
 * as on S3 (the envelope sidecar is read and rewritten while concurrent deliveries of one message read it).
 */
function answerPutsOnceWritten(store: S3rverStore): void {
  store.putObject = async (object) => {
    const path = store.getResourcePath(object.bucket, object.key, 'object');
    const partial = `${path}.${randomBytes(6).toString('hex')}.partial`;
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const md5 = createHash('md5');
    let size = 0;
    await pipeline(
      Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          md5.update(chunk);
          size += chunk.length;
          yield chunk;
        }
      },
      createWriteStream(partial, { mode: 0o600 }),
    );
    await rename(partial, path);
    const digest = md5.digest('hex');
    await store.putMetadata(object.bucket, object.key, object.metadata, digest);
    return { size, md5: digest };
  };
}

/** s3rver 3.7.1's subresources: a bucket's (key undefined) or an object's CORS, website, tagging... settings. */
interface SubresourceStore {
  getSubresource(bucket: string, key: string | undefined, type: string): Promise<unknown>;
  putSubresource(bucket: string, key: string | undefined, resource: { type: string }): Promise<void>;
  deleteSubresource(bucket: string, key: string | undefined, type: string): Promise<void>;
  deleteBucket(bucket: string): Promise<void>;
}

/**
 * s3rver reads the bucket's CORS and website settings from disk for every request, and each missing file costs
 * an ENOENT error: two failed reads per request, a large part of the local stack's CPU in a history import.
 * This server is the only writer of its directory, so a bucket's settings are kept in memory once read and
 * dropped when a request puts or deletes them. An object's own subresources are read as before.
 */
function rememberBucketSettings(store: SubresourceStore): void {
  const known = new Map<string, Promise<unknown>>();
  const get = store.getSubresource.bind(store);
  const put = store.putSubresource.bind(store);
  const remove = store.deleteSubresource.bind(store);
  const deleteBucket = store.deleteBucket.bind(store);
  const id = (bucket: string, type: string) => `${bucket}\n${type}`;
  store.getSubresource = (bucket, key, type) => {
    if (key !== undefined) return get(bucket, key, type);
    let setting = known.get(id(bucket, type));
    if (!setting) {
      setting = get(bucket, key, type);
      known.set(id(bucket, type), setting);
      setting.catch(() => known.delete(id(bucket, type)));
    }
    return setting;
  };
  store.putSubresource = async (bucket, key, resource) => {
    if (key === undefined) known.delete(id(bucket, resource.type));
    await put(bucket, key, resource);
    if (key === undefined) known.delete(id(bucket, resource.type));
  };
  store.deleteSubresource = async (bucket, key, type) => {
    if (key === undefined) known.delete(id(bucket, type));
    await remove(bucket, key, type);
    if (key === undefined) known.delete(id(bucket, type));
  };
  store.deleteBucket = async (bucket) => {
    await deleteBucket(bucket);
    for (const entry of known.keys()) if (entry.startsWith(`${bucket}\n`)) known.delete(entry);
  };
}

/** The parts of s3rver 3.7.1's Koa application and request context that the listing fix relies on. */
interface KoaLike {
  middleware: ((ctx: ListingContext, next: () => Promise<void>) => Promise<void>)[];
}
interface ListingContext {
  method: string;
  path: string;
  query: Record<string, string | undefined>;
  store: { listObjects(bucket: string, options: unknown): Promise<ListingResult> };
  body: unknown;
}
interface ListingResult {
  objects: { key: string }[];
  isTruncated: boolean;
}

/** Our continuation tokens: a marker, then the last key listed, base64url. */
const TOKEN_PREFIX = 'mail-archiver-local:';

/**
 * s3rver 3.7.1 builds ListObjectsV2 continuation tokens with the DES cipher, which Node 20's OpenSSL 3 refuses
 * (`crypto.createCipheriv('des', ...)` throws), so every listing of more than 1,000 keys answered 500 and
 * `reconcile`/`reindex` stopped there. This middleware, placed inside s3rver's XML encoder and before its
 * router, takes over only the continuation of ListObjectsV2 (`list-type=2`) and leaves the listing to s3rver:
 * - an incoming token of ours becomes s3rver's own `start-after` (the key it carries);
 * - the store seen by this one request reports "not truncated", so s3rver never builds a DES token;
 * - if the listing was truncated, the response gets `IsTruncated` and a `NextContinuationToken` of ours.
 * The token is opaque to clients, as S3's is; the SDK's paginator (the code the AWS path runs) just sends it back.
 */
function continueListingsWithoutDes(app: KoaLike): void {
  const listing = async (ctx: ListingContext, next: () => Promise<void>) => {
    const bucket = /^\/([^/]+)\/?$/.exec(ctx.path)?.[1];
    if (ctx.method !== 'GET' || !bucket || ctx.query['list-type'] !== '2') return next();
    const token = ctx.query['continuation-token'];
    if (token !== undefined) {
      const decoded = Buffer.from(token, 'base64url').toString('utf8');
      if (!decoded.startsWith(TOKEN_PREFIX)) return next(); // s3rver answers "incorrect token" itself
      const { 'continuation-token': _token, ...query } = ctx.query;
      ctx.query = { ...query, 'start-after': decoded.slice(TOKEN_PREFIX.length) };
    }
    const store = ctx.store;
    let lastKey: string | undefined;
    ctx.store = Object.assign(Object.create(store) as typeof store, {
      async listObjects(name: string, options: unknown) {
        const result = await store.listObjects(name, options);
        if (result.isTruncated) lastKey = result.objects[result.objects.length - 1]?.key;
        return { ...result, isTruncated: false };
      },
    });
    await next();
    const body = (ctx.body as { ListBucketResult?: Record<string, unknown> } | undefined)?.ListBucketResult;
    if (!body) return;
    if (token !== undefined) {
      body.StartAfter = undefined;
      body.ContinuationToken = token;
    }
    if (lastKey !== undefined) {
      body.IsTruncated = true;
      body.NextContinuationToken = Buffer.from(`${TOKEN_PREFIX}${lastKey}`, 'utf8').toString('base64url');
    }
  };
  // [0] logs, [1] encodes plain-object bodies as XML after the rest ran: ours goes right after it.
  app.middleware.splice(2, 0, listing);
}

/** The parts of s3rver 3.7.1's FilesystemStore (pinned) that listWithoutRereading replaces and uses. */
interface ListingStore {
  getBucketPath(bucket: string): string;
  getMetadata(bucket: string, key: string): Promise<Record<string, string>>;
  listObjects(
    bucket: string,
    options: { delimiter?: string; startAfter?: string; prefix?: string; maxKeys?: number },
  ): Promise<{ objects: unknown[]; commonPrefixes: string[]; isTruncated: boolean }>;
}

/** A folder read once: its entries in name order, and its modification time then. */
interface FolderListing {
  mtimeMs: number;
  entries: { name: string; folder: boolean }[];
}

/**
 * s3rver's ListObjectsV2 reads the whole folder of the keys again for every page of 1,000 and stats every file
 * before the page's start: a listing of n keys in one folder cost about n^2/1,000 file system calls (reindex at
 * 41,680 messages: 42 pages over a folder of 125,000 files). The same listing (same order, same keys, same
 * fields: s3rver 3.7.1's FilesystemStore.listObjects with its `walk`) reads each folder's entries with their types
 * (no stat), and keeps a large folder's entries for the next page while the folder's modification time is
 * unchanged. Kept only when that time is more than 2 s older than the read: a file system stamps times at a
 * coarse tick, so a folder changed in the same tick as the read could keep its time; a later change then stamps
 * a later time. Windows' key encoding (s3rver's encodeKeyPath) is not handled: the local stack runs on Linux and
 * macOS.
 */
function listWithoutRereading(store: ListingStore): void {
  const require = createRequire(import.meta.url);
  const S3Object = require('s3rver/lib/models/object') as new (
    bucket: string,
    key: string,
    content: null,
    metadata: Record<string, string>,
  ) => unknown;
  const OBJECT_SUFFIX = '._S3rver_object';
  const kept = new Map<string, FolderListing>();
  const entriesOf = (folder: string): FolderListing['entries'] => {
    const { mtimeMs } = statSync(folder);
    const known = kept.get(folder);
    if (known && known.mtimeMs === mtimeMs) return known.entries;
    // In s3rver's order: libuv's scandir sorts the names (strcmp), with or without their types.
    const entries = readdirSync(folder, { withFileTypes: true }).map((entry) => ({
      name: entry.name,
      folder: entry.isDirectory(),
    }));
    kept.delete(folder);
    if (entries.length >= 1000 && Date.now() - mtimeMs > 2000) {
      kept.set(folder, { mtimeMs, entries });
      // A few large folders at most (the raw mail's, the sidecars'): the oldest kept goes first.
      if (kept.size > 4) kept.delete(kept.keys().next().value as string);
    }
    return entries;
  };
  function* walk(folder: string, descend: (path: string) => boolean): Generator<string> {
    for (const entry of entriesOf(folder)) {
      const path = posix.join(folder, entry.name);
      if (!entry.folder) yield path;
      else if (descend(path)) yield* walk(path, descend);
    }
  }
  store.listObjects = async (bucket, options) => {
    const { delimiter = '', startAfter = '', prefix = '', maxKeys = Number.POSITIVE_INFINITY } = options;
    const bucketPath = store.getBucketPath(bucket);
    const startAfterPath = `${bucketPath}/${startAfter}`;
    const prefixPath = `${bucketPath}/${prefix}`;
    const descend = (folder: string) => {
      // Folders wholly before startAfter, beneath a common prefix, or outside the prefix are not read.
      if (folder < startAfterPath && !startAfterPath.includes(folder)) return false;
      if (folder.startsWith(prefixPath))
        return !(delimiter && folder.slice(prefixPath.length).includes(delimiter));
      return prefixPath.startsWith(folder);
    };
    const commonPrefixes = new Set<string>();
    const keys: string[] = [];
    let isTruncated = false;
    for (const path of walk(bucketPath, descend)) {
      if (!path.endsWith(OBJECT_SUFFIX)) continue;
      const key = path.slice(bucketPath.length + 1, -OBJECT_SUFFIX.length);
      if (key <= startAfter || !key.startsWith(prefix)) continue;
      if (delimiter) {
        const at = key.slice(prefix.length).indexOf(delimiter);
        if (at !== -1) {
          commonPrefixes.add(key.slice(0, prefix.length + at + 1));
          continue;
        }
      }
      if (keys.length < maxKeys) keys.push(key);
      else {
        isTruncated = true;
        break;
      }
    }
    const metadata = await Promise.all(
      keys.map((key) =>
        store.getMetadata(bucket, key).catch((error: NodeJS.ErrnoException) => {
          if (error.code === 'ENOENT') return undefined;
          throw error;
        }),
      ),
    );
    const objects: unknown[] = [];
    keys.forEach((key, i) => {
      const found = metadata[i];
      if (found !== undefined) objects.push(new S3Object(bucket, key, null, found));
    });
    return { objects, commonPrefixes: [...commonPrefixes].sort(), isTruncated };
  };
}
