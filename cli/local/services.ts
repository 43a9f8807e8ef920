// The local stand-ins for AWS: DynamoDB Local (AWS's own implementation, a Java program shipped in the npm
// package amplify-dynamodb-simulator) and s3rver (an S3-compatible server), on loopback.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import {
  CreateBucketCommand,
  HeadBucketCommand,
  PutBucketVersioningCommand,
  PutObjectLockConfigurationCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { waitUntil } from '../../shared/retry/poll';
import { busyPortError } from '../process/net-ports';
import { patchS3rver } from './s3rver-patches';

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
  /**
   * Resolves, with how it ended ("killed by SIGKILL", "exit code 1"), when the JVM ends without stop() having been
   * called (a crash, the OOM killer, a stray kill); never resolves for a stop.
   */
  died: Promise<string>;
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
 * How long DynamoDB Local may take to listen, in milliseconds: on a loaded machine a JVM's start takes many times
 * its idle 2 s (docs/benchmarks.md, Start-up).
 */
export const DYNAMODB_LOCAL_START_TIMEOUT_MS = 120_000;

/** How many ports a local service chosen a free port tries when other programs take them first (onFreePort). */
export const LOCAL_PORT_TRIES = 3;

/** Another program listened on the port before the service we started could bind it. */
export class PortTakenError extends Error {
  override name = 'PortTakenError';
}

/**
 * Starts a service with `start` on a port of `pickPort`'s (default freePort), and again on another when it throws
 * PortTakenError: a port free a moment ago can be taken before the service binds it (LOCAL_PORT_TRIES in all).
 * Any other error, and the last PortTakenError, is thrown as it is.
 */
export async function onFreePort<T>(
  start: (port: number) => Promise<T>,
  pickPort: () => Promise<number> = freePort,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await pickPort());
    } catch (error) {
      if (!(error instanceof PortTakenError) || attempt >= LOCAL_PORT_TRIES) throw error;
    }
  }
}

/**
 * Starts DynamoDB Local; `dataDir` persists tables across restarts (created 0700, and the working directory,
 * where DynamoDB Local writes its metadata file), without it they live in memory. It runs with umask 077 and
 * with CORS limited to origins no web page has (its default, `*`, lets any page in a browser call it).
 * `quickStart`: for a JVM that lives as long as one command: the client compiler only and the serial collector,
 * which start it several times faster on a busy machine (docs/benchmarks.md); a long-running `npm start` keeps
 * the JVM's defaults, whose optimising compiler pays off over hours.
 * Without `port` it takes a free one (`pickPort`, default freePort), and another when that one is taken before
 * the JVM binds it (onFreePort). Throws UserError (busy port) when the given `port` is taken, and an Error with
 * the JVM's output when it exits or never answers.
 */
export async function startDynamoLocal(
  options: { port?: number; dataDir?: string; quickStart?: boolean; pickPort?: () => Promise<number> } = {},
): Promise<DynamoLocal> {
  assertJava();
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  if (options.port) {
    const port = options.port;
    return startDynamoLocalOn(port, options).catch((error: unknown) => {
      throw error instanceof PortTakenError
        ? busyPortError('127.0.0.1', port, '--dynamodb-port', error)
        : error;
    });
  }
  return onFreePort((port) => startDynamoLocalOn(port, options), options.pickPort);
}

async function startDynamoLocalOn(
  port: number,
  options: { dataDir?: string; quickStart?: boolean },
): Promise<DynamoLocal> {
  const require = createRequire(import.meta.url);
  const emulator = join(dirname(require.resolve('amplify-dynamodb-simulator/package.json')), 'emulator');
  const storage = options.dataDir ? ['-dbPath', options.dataDir] : ['-inMemory'];
  // Known to this JVM alone: the readiness probe's proof that the answer comes from it (see answersAsDynamo).
  const probeOrigin = `https://${randomBytes(8).toString('hex')}.${new URL(DYNAMODB_LOCAL_CORS_ORIGIN).host}`;
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
      `${DYNAMODB_LOCAL_CORS_ORIGIN},${probeOrigin}`,
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
  try {
    // Ready is this JVM answering as DynamoDB, not anything listening: a port free a moment ago can be taken by
    // another program first (another test's s3rver once was), and a JVM that cannot bind says so and lives on.
    await waitUntil(
      async () => {
        if (/Failed to bind|BindException/.test(output))
          throw new PortTakenError(`port ${port} was taken before DynamoDB Local could listen on it`);
        if (child.exitCode !== null)
          throw new Error(`DynamoDB Local exited (${child.exitCode}): ${output.slice(-2000)}`);
        return answersAsDynamo(port, probeOrigin);
      },
      {
        intervalMs: 100,
        timeoutMs: DYNAMODB_LOCAL_START_TIMEOUT_MS,
        what: 'DynamoDB Local to listen',
        onTimeout: () =>
          new Error(
            `DynamoDB Local did not answer on port ${port} within ${DYNAMODB_LOCAL_START_TIMEOUT_MS} ms: ${output.slice(-2000)}`,
          ),
      },
    );
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  let stopping = false;
  const died = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) => {
      if (!stopping) resolve(signal ? `killed by ${signal}` : `exit code ${code}`);
    }),
  );
  return {
    endpoint,
    died,
    stop: () => {
      stopping = true;
      return stopChild(child);
    },
  };
}

/**
 * Whether the DynamoDB Local that allows `origin` answers on 127.0.0.1:`port`: an unsigned ListTables, which
 * DynamoDB refuses with its own error type (MissingAuthenticationToken) and with `origin` allowed back. Unsigned
 * on purpose: a signed call opens the key id's table file, leaving `<key id>_<region>.db` in the data directory.
 */
async function answersAsDynamo(port: number, origin: string): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'DynamoDB_20120810.ListTables',
        origin,
      },
      body: '{}',
      signal: AbortSignal.timeout(5000),
    });
    const body = await response.text();
    return (
      response.headers.get('access-control-allow-origin') === origin &&
      body.includes('com.amazonaws.dynamodb.v20120810#')
    );
  } catch {
    return false;
  }
}

/**
 * The origin DynamoDB Local's CORS allows (with one random origin under it per start, for the readiness probe):
 * under the reserved .invalid top-level domain (RFC 2606), so no web page has it.
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
  patchS3rver(server, {
    dataDir: options.dataDir,
    ...(options.credentials ? { credentials: options.credentials } : {}),
    ...(options.governanceBypassKeyIds ? { governanceBypassKeyIds: options.governanceBypassKeyIds } : {}),
  });
  const { port } = (await server.run()) as { port: number };
  return { endpoint: `http://127.0.0.1:${port}`, stop: () => server.close() as Promise<void> };
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

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
