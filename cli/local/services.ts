// The local stand-ins for AWS: DynamoDB Local (AWS's own implementation, a Java program shipped in the npm
// package amplify-dynamodb-simulator) and s3rver (an S3-compatible server), on loopback.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CreateBucketCommand,
  HeadBucketCommand,
  PutBucketVersioningCommand,
  PutObjectLockConfigurationCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { installObjectLockLayer } from './object-lock/layer';
import { type GuardedApp, requireAccessKeyId } from './s3-access';

export class MissingDependencyError extends Error {
  override name = 'MissingDependencyError';
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export function assertJava(): void {
  const probe = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new MissingDependencyError(
      'DynamoDB Local needs a Java runtime (11 or newer) and none was found on PATH.\n' +
        '  Debian/Ubuntu: sudo apt-get install -y default-jre-headless\n' +
        '  macOS:         brew install openjdk\n' +
        'or run scripts/install-system-deps.sh, which installs everything the local stack and the tests need.',
    );
  }
}

export interface DynamoLocal {
  endpoint: string;
  stop(): Promise<void>;
}

/**
 * The command and arguments for `spawn` that make the child die with this process, however this process ends
 * (SIGKILL included, when no exit handler runs): on Linux through util-linux's `setpriv --pdeathsig KILL`
 * (prctl PR_SET_PDEATHSIG, which survives the exec of sh and of java). Without it a CLI command killed by a
 * timeout left its DynamoDB Local JVM running for good. Elsewhere (macOS) the command as it is.
 */
export function diesWithThisProcess(command: string, ...args: string[]): [string, string[]] {
  if (process.platform === 'linux' && hasSetprivPdeathsig()) {
    return ['setpriv', ['--pdeathsig', 'KILL', '--', command, ...args]];
  }
  return [command, args];
}

let setprivPdeathsig: boolean | undefined;
function hasSetprivPdeathsig(): boolean {
  setprivPdeathsig ??= /--pdeathsig/.test(
    spawnSync('setpriv', ['--help'], { encoding: 'utf8' }).stdout ?? '',
  );
  return setprivPdeathsig;
}

/**
 * Starts DynamoDB Local; `dataDir` persists tables across restarts (created 0700, and the working directory,
 * where DynamoDB Local writes its metadata file), without it they live in memory. It runs with umask 077 and
 * with CORS limited to an origin no web page has (its default, `*`, lets any page in a browser call it).
 * `quickStart`: for a JVM that lives as long as one command: the client compiler only and the serial collector,
 * which start it several times faster on a busy machine (docs/benchmarks.md); a long-running `npm start` keeps
 * the JVM's defaults, whose optimising compiler pays off over hours.
 */
export async function startDynamoLocal(
  options: { port?: number; dataDir?: string; quickStart?: boolean } = {},
): Promise<DynamoLocal> {
  assertJava();
  const require = createRequire(import.meta.url);
  const emulator = join(dirname(require.resolve('amplify-dynamodb-simulator/package.json')), 'emulator');
  const port = options.port ?? (await freePort());
  const storage = options.dataDir ? ['-dbPath', options.dataDir] : ['-inMemory'];
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  // sh sets the umask of the JVM alone; `exec` leaves java as the child that stopChild signals.
  const child = spawn(
    ...diesWithThisProcess(
      '/bin/sh',
      '-c',
      'umask 077 && exec "$@"',
      'sh',
      'java',
      '-Xmx512m',
      ...(options.quickStart ? ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC'] : []),
      `-Djava.library.path=${join(emulator, 'DynamoDBLocal_lib')}`,
      '-jar',
      join(emulator, 'DynamoDBLocal.jar'),
      ...storage,
      '-port',
      String(port),
      '-disableTelemetry',
      '-cors',
      DYNAMODB_LOCAL_CORS_ORIGIN,
    ),
    { stdio: ['ignore', 'pipe', 'pipe'], ...(options.dataDir ? { cwd: options.dataDir } : {}) },
  );
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const endpoint = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null)
        throw new Error(`DynamoDB Local exited (${child.exitCode}): ${output.slice(-2000)}`);
      return canConnect(port);
    },
    30_000,
    'DynamoDB Local to listen',
  );
  return { endpoint, stop: () => stopChild(child) };
}

/**
 * The only origin DynamoDB Local's CORS allows: under the reserved .invalid top-level domain (RFC 2606), so no
 * web page has it.
 */
export const DYNAMODB_LOCAL_CORS_ORIGIN = 'https://mail-archiver.invalid';

export interface S3Local {
  endpoint: string;
  stop(): Promise<void>;
}

/**
 * Starts s3rver on loopback over `dataDir` (created 0700; objects written 0600). With `credentials`, every
 * request must be signed (header or presigned query) with that key id, else 403: s3rver itself serves
 * unsigned requests and checks no V4 signature, so any local user could read every object. Buckets created with
 * Object Lock (or versioned later) get S3's versioning and Object Lock (cli/local/object-lock/layer.ts);
 * `governanceBypassKeyIds` names the access keys whose requests may bypass governance retention (none by default).
 */
export async function startS3Local(options: {
  port?: number;
  dataDir: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  governanceBypassKeyIds?: string[];
}): Promise<S3Local> {
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const server = new S3rver({
    address: '127.0.0.1',
    port: options.port ?? 0,
    silent: true,
    directory: options.dataDir,
    allowMismatchedSignatures: true,
  });
  answerPutsOnceWritten((server as unknown as { store: S3rverStore }).store);
  rememberBucketSettings((server as unknown as { store: SubresourceStore }).store);
  continueListingsWithoutDes(server as unknown as KoaLike);
  installObjectLockLayer(server, {
    dataDir: options.dataDir,
    ...(options.governanceBypassKeyIds ? { governanceBypassKeyIds: options.governanceBypassKeyIds } : {}),
  });
  if (options.credentials) {
    // s3rver knows one account; its signature check looks the key id up there (V4 signatures it never checks).
    const { DUMMY_ACCOUNT } = createRequire(import.meta.url)('s3rver/lib/models/account') as {
      DUMMY_ACCOUNT: { createKeyPair(accessKeyId: string, secretAccessKey: string): void };
    };
    DUMMY_ACCOUNT.createKeyPair(options.credentials.accessKeyId, options.credentials.secretAccessKey);
    requireAccessKeyId(server as unknown as GuardedApp, options.credentials.accessKeyId);
  }
  const { port } = (await server.run()) as { port: number };
  return { endpoint: `http://127.0.0.1:${port}`, stop: () => server.close() as Promise<void> };
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

/**
 * The archive's bucket as the stack creates it: versioned, with S3 Object Lock enabled and no default retention
 * (SES cannot write into a bucket with one). A bucket from before Object Lock gets versioning and Object Lock now
 * (S3 allows enabling it on an existing versioned bucket; its objects become `null` versions).
 */
export async function ensureBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch {
    await s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
    return;
  }
  await s3.send(
    new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }),
  );
  await s3.send(
    new PutObjectLockConfigurationCommand({
      Bucket: bucket,
      ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled' },
    }),
  );
}

async function canConnect(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
