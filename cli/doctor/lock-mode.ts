// doctor's "lock mode" check: the configured archive.lock.mode against what the archive already holds
// (shared/retention/lock-mode-check.ts), on the deployed bucket or the running local stack.
import { createClients, destroyClients } from '../../shared/adapters/clients';
import { S3ObjectLocks } from '../../shared/adapters/s3-object-locks';
import type { ArchiverConfig } from '../../shared/config';
import { errorMessage } from '../../shared/errors';
import { lockModeVerdict, sampleLockedVersions } from '../../shared/retention/lock-mode-check';
import { LOCAL_BUCKET } from '../local/archive';
import type { StackFile } from '../local/running-stack';
import type { Check, NamedCheck } from './check';

const NAME = 'lock mode';

/**
 * The check, or a warning when there is no archive to read yet (not deployed, local stack not running). `aws`: the
 * deployed stack's outputs (RawMailBucketName) and the default credential chain.
 */
export async function lockModeCheck(
  config: ArchiverConfig,
  where: { aws: Record<string, string> | undefined } | { local: StackFile | undefined },
  now = new Date(),
): Promise<Check> {
  const target =
    'aws' in where
      ? where.aws?.RawMailBucketName && { clients: createClients(), bucket: where.aws.RawMailBucketName }
      : where.local && { clients: createClients(where.local.endpoints), bucket: LOCAL_BUCKET };
  if (!target)
    return {
      name: NAME,
      status: 'warn',
      detail: 'no archive to read yet',
      fix: 'aws' in where ? 'run cdk deploy, then doctor again' : 'npm start',
    };
  try {
    const verdict = lockModeVerdict(
      config,
      await sampleLockedVersions(new S3ObjectLocks(target.clients.s3), target.bucket, now),
    );
    return { name: NAME, ...verdict };
  } catch (error) {
    return {
      name: NAME,
      status: 'warn',
      detail: `could not read the archive's locks: ${errorMessage(error)}`,
      fix: 'needs s3:ListBucketVersions and s3:GetObjectRetention on the raw-mail bucket',
    };
  } finally {
    destroyClients(target.clients);
  }
}

/** What the lock mode check reads: the config and where the archive is (AWS outputs or the running stack). */
export interface LockModeRun {
  config: ArchiverConfig;
  where: { aws: Record<string, string> | undefined } | { local: StackFile | undefined };
  now?: () => Date;
}

/** The check by name (cli/doctor/check.ts), for both targets. */
export const lockMode: NamedCheck<LockModeRun> = {
  name: NAME,
  run: ({ config, where, now }) => lockModeCheck(config, where, now?.()),
};
