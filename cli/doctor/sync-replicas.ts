// doctor's "sync replica" checks: each replica this machine keeps (`mail-archiver sync DIR`, recorded in the
// archiver's home by shared/replica/registry.ts) ran successfully within a day. A replica nobody keeps current is
// the copy that is missing on the bad day; a timer (`sync --install-timer`) keeps it current.
import { type PolicyDocumentJson, replicaReadPolicy } from '../../shared/delivery-log/read-policy';
import { errorMessage } from '../../shared/errors';
import {
  listReplicas,
  REPLICA_STALE_MS,
  replicaListPath,
  replicaStanding,
} from '../../shared/replica/registry';
import type { Check, NamedCheck } from './check';

/** "3 h", "2 days": how long ago `iso` was, coarse (status and doctor print it). */
export function age(iso: string, now: Date): string {
  const ms = Math.max(0, now.getTime() - Date.parse(iso));
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 2 * 86_400_000) return `${Math.round(ms / 3_600_000)} h`;
  return `${Math.floor(ms / 86_400_000)} days`;
}

/** One check per replica recorded for `target` in `home` (none recorded: no check). Never throws. */
export async function syncReplicaChecks(home: string, target: string, now = new Date()): Promise<Check[]> {
  let dirs: string[];
  try {
    dirs = await listReplicas(home, target);
  } catch (error) {
    return [
      {
        name: 'sync replicas',
        status: 'warn',
        detail: errorMessage(error),
        fix: `remove ${replicaListPath(home, target)}; the next sync of each replica records it again`,
      },
    ];
  }
  const checks: Check[] = [];
  for (const dir of dirs) {
    const name = `sync replica ${dir}`;
    const fixSync = `mail-archiver sync ${dir}${target === 'aws' ? ' --target aws' : ''} (and sync --install-timer to keep it current)`;
    const standing = await replicaStanding(dir);
    if (standing.state !== 'ok') {
      checks.push({
        name,
        status: 'warn',
        detail: standing.reason,
        fix: `${fixSync}, or remove its line from ${replicaListPath(home, target)}`,
      });
      continue;
    }
    const last = standing.progress.lastSuccess;
    if (!last) {
      checks.push({ name, status: 'warn', detail: 'no sync has succeeded yet', fix: fixSync });
      continue;
    }
    const stale = now.getTime() - Date.parse(last.endedAt) > REPLICA_STALE_MS;
    const detail = `last successful sync ${last.endedAt} (${age(last.endedAt, now)} ago)`;
    checks.push(stale ? { name, status: 'warn', detail, fix: fixSync } : { name, status: 'ok', detail });
  }
  return checks;
}

/** What the sync replica checks read: the archiver's home and the target the replicas were synced from. */
export interface SyncReplicasRun {
  home: string;
  target: string;
  now?: () => Date;
}

/** The checks by name (cli/doctor/check.ts): one line per replica recorded, none when none is. */
export const syncReplicas: NamedCheck<SyncReplicasRun> = {
  name: 'sync replicas',
  run: ({ home, target, now }) => syncReplicaChecks(home, target, now?.()),
};

/**
 * The read-only policy of a replica machine for the deployed stack (`doctor --target aws` prints it). The
 * bucket is the stack's RawMailBucketName output (`<bucket>` before the first deploy). The stack ARN's account is
 * `*`: doctor does not ask STS who it is, and a credential can only describe stacks of its own account anyway.
 */
export function replicaPolicyForStack(
  stackName: string,
  region: string,
  outputs: Record<string, string> | undefined,
): PolicyDocumentJson {
  const bucket = outputs?.RawMailBucketName ?? '<bucket>';
  return replicaReadPolicy({
    bucketArn: `arn:aws:s3:::${bucket}`,
    stackArn: `arn:aws:cloudformation:${region}:*:stack/${stackName}/*`,
  });
}
