// Whether a directory can hold a replica (sync.ts, and the CLI before it starts anything): empty, missing, or a
// replica already; never a directory inside a replica (a mailbox of it), where a second replica would start.
import { readdir, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { InsideReplicaError, ReplicaDirectoryError } from './errors';
import { REPLICA_STATE_DIR } from './state';

/**
 * Throws ReplicaDirectoryError when `dir` cannot hold a replica: not a directory, or neither empty nor a replica;
 * InsideReplicaError when it lies inside a replica (a mailbox of it). A directory that does not exist yet is fine
 * (sync creates it), unless it must be `existing` (a watch's later runs: one gone since, its disk unmounted say,
 * is not made again, which would fill the disk beneath the mount point).
 */
export async function checkReplicaDirectory(dir: string, existing = false): Promise<void> {
  const inside = await enclosingReplica(dir);
  if (inside) {
    const { replica, mailbox, held } = inside;
    throw new InsideReplicaError(
      held
        ? `${dir} is the mailbox ${mailbox} of the replica at ${replica}: run \`sync ${replica}\` (with --mailbox ${mailbox} for only it)`
        : `${dir} is inside the replica at ${replica}, which holds one directory per mailbox: run \`sync ${replica}\` (with --mailbox <address> for only some mailboxes)`,
    );
  }
  const info = await stat(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw new ReplicaDirectoryError(`cannot use ${dir}: ${error.message}`, { cause: error });
  });
  if (!info && existing)
    throw new ReplicaDirectoryError(
      `${dir} is gone since the last run (moved or removed, or its disk unmounted): sync does not start a new replica in its place; mount or move it back (or sync it again by hand to start a new one)`,
    );
  if (info && !info.isDirectory()) throw new ReplicaDirectoryError(`${dir} is not a directory`);
  if (info) {
    const names = await readdir(dir);
    if (names.length > 0 && !names.includes(REPLICA_STATE_DIR))
      throw new ReplicaDirectoryError(
        `${dir} is not a replica (it has no ${REPLICA_STATE_DIR}/ and is not empty): name a new or empty directory, or an existing replica`,
      );
  }
}

/**
 * The replica `dir` lies inside, when one of its ancestors is a replica and `dir` itself is not: that replica's
 * directory, the name under it that leads to `dir` (a mailbox's, when `held`: a directory of the replica named like
 * an address). One `stat` per ancestor.
 */
export async function enclosingReplica(
  dir: string,
): Promise<{ replica: string; mailbox: string; held: boolean } | undefined> {
  const isDirectory = (path: string) =>
    stat(path).then(
      (info) => info.isDirectory(),
      () => false,
    );
  const absolute = resolve(dir);
  if (await isDirectory(join(absolute, REPLICA_STATE_DIR))) return undefined;
  for (
    let child = absolute, parent = dirname(absolute);
    parent !== child;
    child = parent, parent = dirname(parent)
  ) {
    if (!(await isDirectory(join(parent, REPLICA_STATE_DIR)))) continue;
    const mailbox = relative(parent, absolute).split(sep)[0] as string;
    return {
      replica: parent,
      mailbox,
      held: mailbox.includes('@') && (await isDirectory(join(parent, mailbox))),
    };
  }
  return undefined;
}
