// Every SDK client is built here, once, and passed in. Local endpoints get the settings the local services
// need (path-style S3, no streaming checksums: s3rver stores aws-chunked framing inside the object otherwise).
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';

export interface LocalEndpoints {
  s3: string;
  dynamodb: string;
  /** The data directory's own pair (cli/local/privacy.ts); without it, the constant pair of older versions. */
  credentials?: LocalCredentials;
}

export interface LocalCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface AwsClients {
  s3: S3Client;
  dynamodb: DynamoDBClient;
}

const legacyLocalCredentials: LocalCredentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
const LOCAL_REGION = 'us-east-1';

/**
 * The local S3 client resolves its middleware stack once per command class instead of at every request (the
 * SDK's `cacheMiddleware`, documented as saving up to 1 ms of CPU a request): on this machine a replica's first
 * sync is bound by CPU, one GET per delivery. What it gives up: middleware added after the first request is not
 * seen (the bench's counters and the tests' recorders are added when the client is made), and concurrent requests
 * of one command share the SDK's per-request context (the same for every request to the one local bucket). The
 * AWS clients keep the SDK's defaults: there the requests wait on the network, not on this CPU.
 */
const LOCAL_S3_OPTIONS = { cacheMiddleware: true } as const;

/**
 * Every S3 client gives up on a connection not made in 10 s and on a socket silent for 60 s (an idle timeout: a
 * long download that keeps receiving bytes is not cut). The SDK sets neither by default, so an S3 that accepts a
 * connection and never answers (a stopped server, a connection dead behind NAT after a laptop's sleep) held a sync
 * forever, and with it the replica's lock; now the request fails as timed out, the SDK retries it, and the command
 * says S3 is not answering. MAIL_ARCHIVER_S3_IDLE_TIMEOUT_MS overrides the 60 s (milliseconds; a slow link).
 */
function s3RequestHandler(): { connectionTimeout: number; socketTimeout: number } {
  const idle = Number(process.env.MAIL_ARCHIVER_S3_IDLE_TIMEOUT_MS);
  return { connectionTimeout: 10_000, socketTimeout: Number.isFinite(idle) && idle > 0 ? idle : 60_000 };
}

export function createClients(local?: LocalEndpoints, region?: string): AwsClients {
  if (!local) {
    return {
      s3: createS3Client(undefined, region),
      dynamodb: new DynamoDBClient(region ? { region } : {}),
    };
  }
  return {
    s3: createS3Client(local),
    dynamodb: new DynamoDBClient({
      region: LOCAL_REGION,
      endpoint: local.dynamodb,
      credentials: local.credentials ?? legacyLocalCredentials,
    }),
  };
}

/** The S3 client alone (a command that reads only the bucket: sync), with the same settings as createClients'. */
export function createS3Client(
  local?: Pick<LocalEndpoints, 's3' | 'credentials'>,
  region?: string,
): S3Client {
  if (!local) return new S3Client({ ...(region ? { region } : {}), requestHandler: s3RequestHandler() });
  return new S3Client({
    ...LOCAL_S3_OPTIONS,
    requestHandler: s3RequestHandler(),
    region: LOCAL_REGION,
    endpoint: local.s3,
    forcePathStyle: true,
    credentials: local.credentials ?? legacyLocalCredentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Closes the clients' sockets, so that a process that is done with them can exit. */
export function destroyClients(clients: AwsClients): void {
  clients.s3.destroy();
  clients.dynamodb.destroy();
}
