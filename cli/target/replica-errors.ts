// What stops a sync run, in the user's terms (cli/commands/sync.ts): a directory that cannot be a replica, one
// inside a replica (exit 2: the command was mistaken), a conflict in the log, another sync holding the lock, a
// directory that cannot be written (read-only, another owner's, gone while the run went on), a full disk. One plain
// line naming the directory and what failed, never the file system's own error text or a stack trace.
import { accessSync, constants, existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { LockHeldError } from '../../shared/adapters/pid-lock';
import { InsideReplicaError, ReplicaConflictError, ReplicaDirectoryError } from '../../shared/replica/errors';
import { REPLICA_STATE_DIR } from '../../shared/replica/state';
import { ExitCode, UserError } from '../process/output';

/** What the file system says when the replica's directory cannot be written, in the user's terms. */
const UNWRITABLE: Record<string, string> = {
  EROFS: 'its file system is mounted read-only',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOENT: 'it is gone (the directory was moved or removed, or its disk unmounted, while sync ran)',
  ENOTDIR: 'a part of the path is not a directory',
  EIO: 'the disk reported an I/O error',
};

/** `error` as a UserError when it is one of these (else `error` itself), about the replica at `dir`. */
export function replicaUserError(error: unknown, dir: string): unknown {
  if (error instanceof InsideReplicaError)
    return new UserError(error.message, { cause: error, exitCode: ExitCode.usage });
  if (error instanceof ReplicaDirectoryError || error instanceof ReplicaConflictError)
    return new UserError(error.message, { cause: error });
  if (error instanceof LockHeldError) {
    const { pid, host } = error.holder;
    // A lock of another host (a replica on a NAS two machines sync into) cannot be checked from here.
    const here = host === hostname();
    return new UserError(
      `another sync (process ${pid} on ${host}) ${here ? 'is running over' : 'holds'} ${dir}`,
      {
        cause: error,
        hint: here
          ? 'wait for it to end; a lock left by a process that is gone is taken over by itself'
          : `this machine cannot tell whether it still runs: once process ${pid} on ${host} is gone, remove ${join(resolve(dir), REPLICA_STATE_DIR, 'lock')}`,
      },
    );
  }
  const { code, path } = (typeof error === 'object' && error !== null ? error : {}) as {
    code?: string;
    path?: string;
  };
  const absolute = resolve(dir);
  // The replica's own files, its directory, or a directory above it (made on a first sync).
  const about =
    typeof path === 'string' &&
    (`${resolve(path)}/`.startsWith(`${absolute}/`) || absolute.startsWith(`${resolve(path)}/`));
  if (code && UNWRITABLE[code] && about) {
    const where = resolve(path as string) === absolute ? '' : ` (${path})`;
    const why = code === 'ENOENT' ? underlyingCode(path as string) : code;
    return new UserError(
      `cannot write the replica at ${dir}${where}: ${UNWRITABLE[why] ?? UNWRITABLE[code]}`,
      {
        cause: error,
        hint:
          why === 'ENOENT'
            ? 'the archive is untouched: if the replica was moved, sync it where it is now'
            : `make ${dir} writable by this user (or sync into another directory); nothing more was recorded as done, and the next sync resumes`,
      },
    );
  }
  if ((error as { code?: string }).code === 'ENOSPC')
    return new UserError(
      `the disk holding ${dir} is full: the step under way was not recorded (what earlier steps wrote is kept); free space and sync again`,
      {
        cause: error,
      },
    );
  return error;
}

/**
 * The real reason behind an ENOENT of `path`: Node's recursive mkdir (a first sync makes its directories so) says
 * ENOENT on a read-only file system or in a directory this user cannot write (Node 20 and 22, found with a
 * read-only tmpfs: "ENOENT: no such file or directory, mkdir"), so the nearest directory above `path` that exists
 * is asked whether it can be written; ENOENT when it can (the path did vanish).
 */
function underlyingCode(path: string): string {
  let at = resolve(path);
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  try {
    accessSync(at, constants.W_OK);
    return 'ENOENT';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? 'ENOENT';
  }
}
