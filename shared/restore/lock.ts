// One restore per state file at a time: two runs on one state at once (two terminals) would both find a message
// missing and both append it.
import { open, readFile, unlink } from 'node:fs/promises';
import { RestoreStateError } from './errors';

/**
 * Takes `<state>.lock`, holding the process id, created exclusively; returns the function that frees it. A lock
 * whose process is gone (a killed run) is taken over; one whose process lives is RestoreStateError.
 */
export async function lockState(statePath: string): Promise<() => Promise<void>> {
  const lock = `${statePath}.lock`;
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(lock, 'wx', 0o600);
      await handle.write(`${process.pid}\n`);
      await handle.close();
      return async () => {
        await unlink(lock).catch(() => undefined);
      };
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST' || attempt > 0) throw error;
      const pid = Number.parseInt(await readFile(lock, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(pid) && pid > 0 && processAlive(pid))
        throw new RestoreStateError(
          `another restore (process ${pid}) is using ${statePath}: wait for it to finish (or remove ${lock} if that process is not a restore)`,
        );
      await unlink(lock).catch(() => undefined);
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}
