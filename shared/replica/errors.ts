// What stops a sync (each one names the path or the record it is about). The run lock's LockHeldError is in
// shared/adapters/pid-lock.ts.

/** The directory named is no replica (and not empty), or cannot be used as one. */
export class ReplicaDirectoryError extends Error {
  override name = 'ReplicaDirectoryError';
}

/**
 * The directory named lies inside a replica (one of its mailboxes, say): sync takes the replica's own directory,
 * and would otherwise start a second replica inside the first.
 */
export class InsideReplicaError extends ReplicaDirectoryError {
  override name = 'InsideReplicaError';
}

/**
 * The log and the replica disagree on what a UID is (a UID already mapped to another file, a folder whose
 * UIDVALIDITY changed): the replica never renumbers, so the run stops here.
 */
export class ReplicaConflictError extends Error {
  override name = 'ReplicaConflictError';
}

/** A file of the replica's progress does not parse: it is named, kept aside, and rebuilt from the tree and the log. */
export class ReplicaProgressError extends Error {
  override name = 'ReplicaProgressError';
}
