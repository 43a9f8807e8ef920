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
  const aws = target === 'aws' ? ' --target aws' : '';
  for (const dir of dirs) {
    const name = `sync replica ${dir}`;
    const fixSync = `mail-archiver sync ${dir}${aws} (and sync --install-timer to keep it current)`;
    const forget = `mail-archiver sync --forget ${dir}${aws} stops listing it (nothing is deleted)`;
    const standing = await replicaStanding(dir);
    if (standing.state !== 'ok') {
      checks.push({
        name,
        status: 'warn',
        detail: standing.reason,
        fix:
          standing.state === 'gone'
            ? `moved: mail-archiver sync NEWDIR${aws} registers it at its new place; gone for good: ${forget}`
            : `${fixSync}; or ${forget}`,
      });
      continue;
    }
    const last = standing.progress.lastSuccess;
    const unparsed = standing.progress.unparsed ?? [];
    if (unparsed.length > 0) {
      checks.push({
        name,
        status: 'warn',
        detail: `${unparsed.length} delivery-log object${unparsed.length === 1 ? ' holds a line' : 's hold lines'} that sync cannot parse, reported by every sync until ${unparsed.length === 1 ? 'it parses' : 'they parse'}: ${unparsed.join(', ')}`,
        fix: `a newer mail-archiver may read them (update it here); a line damaged for good: mail-archiver reconcile${aws} names the deliveries missing from the log, reindex logs them, then mail-archiver sync ${dir}${aws} --accept-unparsed`,
      });
      continue;
    }
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
