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

export function createClients(local?: LocalEndpoints, region?: string): AwsClients {
  if (!local) {
    return {
      s3: new S3Client(region ? { region } : {}),
      dynamodb: new DynamoDBClient(region ? { region } : {}),
    };
  }
  const localCredentials = local.credentials ?? legacyLocalCredentials;
  return {
    s3: new S3Client({
      region: LOCAL_REGION,
      endpoint: local.s3,
      forcePathStyle: true,
      credentials: localCredentials,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    }),
    dynamodb: new DynamoDBClient({
      region: LOCAL_REGION,
      endpoint: local.dynamodb,
      credentials: localCredentials,
    }),
  };
}

/** Closes the clients' sockets, so that a process that is done with them can exit. */
export function destroyClients(clients: AwsClients): void {
  clients.s3.destroy();
  clients.dynamodb.destroy();
}
