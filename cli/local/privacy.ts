// The local archive on a machine shared with others, and next to a network: its data directory is private
// (0700), the services write with a private umask, and each data directory has its own random credentials.
// DynamoDB Local listens on every interface (it has no bind option) and checks no signature, but it keeps the
// tables of each access key id and region apart (<key id>_<region>.db, unless -sharedDb): with a random key
// id nobody else knows, another host, or another user of this one, reaches empty tables. s3rver listens on
// loopback only and is told to refuse every request that does not carry the same key id.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LocalCredentials } from '../../shared/adapters/clients';

/** The access key id every local archive used before it had its own: its DynamoDB Local file is migrated. */
export const LEGACY_ACCESS_KEY_ID = 'S3RVER';
/** The region local clients sign with: part of DynamoDB Local's file name. */
export const LOCAL_REGION = 'us-east-1';
const CREDENTIALS_FILE = 'local-credentials.json';

/** Thrown when the data directory or its credentials file is not private to this user and cannot be made so. */
export class DataHomeNotPrivateError extends Error {
  override name = 'DataHomeNotPrivateError';
}

/**
 * Creates `home` 0700, or sets an existing one to 0700 (created 0755 by older versions). Throws
 * DataHomeNotPrivateError when it belongs to another user (its owner should run the archive).
 */
export function makeDataHomePrivate(home: string): void {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const info = statSync(home);
  const me = process.getuid?.();
  if (me !== undefined && info.uid !== me) {
    if ((info.mode & 0o077) === 0) return;
    throw new DataHomeNotPrivateError(
      `${home} belongs to uid ${info.uid} and others can enter it (mode 0${(info.mode & 0o777).toString(8)}): run as its owner, or chmod 700 it`,
    );
  }
  if ((info.mode & 0o777) !== 0o700) chmodSync(home, 0o700);
}

/**
 * A new pair: the key id is "LOCAL" and 20 base-32 characters (100 random bits; DynamoDB Local accepts only
 * letters and digits), the secret 40 random base64url characters.
 */
export function randomLocalCredentials(): LocalCredentials {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const id = [...randomBytes(20)].map((b) => alphabet[b % 32]).join('');
  return { accessKeyId: `LOCAL${id}`, secretAccessKey: randomBytes(30).toString('base64url') };
}

/**
 * The credentials of the data directory `home`, from `home`/local-credentials.json (0600), created on first
 * use. When they are created and DynamoDB Local's file of the old constant key id exists
 * (`dynamodb/S3RVER_us-east-1.db`), it is renamed to the new key id's name, so the existing index stays
 * readable. Call with no DynamoDB Local running over `home`.
 */
export function localCredentials(home: string): LocalCredentials {
  const path = join(home, CREDENTIALS_FILE);
  if (existsSync(path)) {
    chmodSync(path, 0o600);
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<LocalCredentials>;
    if (typeof parsed.accessKeyId !== 'string' || !/^[A-Za-z0-9]+$/.test(parsed.accessKeyId))
      throw new DataHomeNotPrivateError(
        `${path} holds no valid accessKeyId: remove it to make new credentials`,
      );
    return { accessKeyId: parsed.accessKeyId, secretAccessKey: String(parsed.secretAccessKey ?? '') };
  }
  const credentials = randomLocalCredentials();
  const legacy = dynamoDbFile(home, LEGACY_ACCESS_KEY_ID);
  if (existsSync(legacy)) {
    renameSync(legacy, dynamoDbFile(home, credentials.accessKeyId));
    chmodSync(dynamoDbFile(home, credentials.accessKeyId), 0o600);
  }
  // wx: two processes starting at once cannot both write; the loser reads the winner's.
  try {
    writeFileSync(path, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return localCredentials(home);
    throw error;
  }
  return credentials;
}

/** DynamoDB Local's database file for an access key id (per its documentation: <key id>_<region>.db). */
export function dynamoDbFile(home: string, accessKeyId: string): string {
  return join(home, 'dynamodb', `${accessKeyId}_${LOCAL_REGION}.db`);
}

let umaskHolders = 0;
let savedUmask: number | undefined;

/**
 * Sets this process's umask to 077 (files 0600, directories 0700: s3rver runs in-process) until every holder
 * has released it; returns the release. Child processes started meanwhile inherit it.
 */
export function holdPrivateUmask(): () => void {
  if (umaskHolders === 0) savedUmask = process.umask(0o077);
  umaskHolders += 1;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    umaskHolders -= 1;
    if (umaskHolders === 0 && savedUmask !== undefined) process.umask(savedUmask);
  };
}
