// One restore per state file at a time: two runs on one state at once (two terminals) would both find a message
// missing and both append it.
import { LockHeldError, takeLock } from '../adapters/pid-lock';
import { RestoreStateError } from './errors';

/**
 * Takes `<state>.lock` (shared/adapters/pid-lock.ts: process id and host, created exclusively); returns the
 * function that frees it. A lock whose process is gone (a killed run) is taken over; one whose process lives, or
 * one held from another host, is RestoreStateError.
 */
export async function lockState(statePath: string): Promise<() => Promise<void>> {
  const lock = `${statePath}.lock`;
  try {
    return (await takeLock(lock)).release;
  } catch (error) {
    if (!(error instanceof LockHeldError)) throw error;
    throw new RestoreStateError(
      `another restore (process ${error.holder.pid} on ${error.holder.host}) is using ${statePath}: wait for it to finish (or remove ${lock} if that process is not a restore)`,
      { cause: error },
    );
  }
}
