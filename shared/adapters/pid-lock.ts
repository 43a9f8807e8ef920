// A lock file holding the process id and host of its holder, created exclusively (O_EXCL): one run at a time over
// a state (a restore's state file, a replica directory). A lock whose process is gone (SIGKILL, power loss) is
// taken over; a lock held by a live process, or by a process of another host (which cannot be checked from here),
// is refused.
import { readFileSync, unlinkSync } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';

/** Who holds a lock: its process id and host, as the lock file says. */
export interface LockHolder {
  pid: number;
  host: string;
}

/** The lock is held by a live process (or by one on another host); `holder` says which. */
export class LockHeldError extends Error {
  override name = 'LockHeldError';
  constructor(
    readonly path: string,
    readonly holder: LockHolder,
  ) {
    super(`${path} is held by process ${holder.pid} on ${holder.host}`);
  }
}

/**
 * Takes the lock file `path` (created 0600, holding `<pid> <host>`); returns the function that frees it and
 * whether a dead holder's lock was taken over. Throws LockHeldError when a live process (or another host's)
 * holds it, and what the file system throws.
 */
export async function takeLock(
  path: string,
): Promise<{ release: () => Promise<void>; tookOver?: LockHolder }> {
  const host = hostname();
  let tookOver: LockHolder | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      try {
        await handle.writeFile(`${process.pid} ${host}\n`);
      } catch (error) {
        // A full disk: no empty lock is left behind.
        await handle.close().catch(() => undefined);
        await unlink(path).catch(() => undefined);
        throw error;
      }
      await handle.close();
      return {
        release: async () => {
          await unlink(path).catch(() => undefined);
        },
        ...(tookOver ? { tookOver } : {}),
      };
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST' || attempt > 0) throw error;
      const holder = holderOf(await readFile(path, 'utf8').catch(() => ''));
      const sameHost = holder.host === host;
      if (Number.isInteger(holder.pid) && holder.pid > 0 && (!sameHost || processAlive(holder.pid)))
        throw new LockHeldError(path, holder);
      tookOver = holder;
      await unlink(path).catch(() => undefined);
    }
  }
}

/**
 * Frees the lock file `path` if this process holds it, synchronously (for an exit handler, where nothing
 * asynchronous runs any more); a missing lock or another holder's is left as it is.
 */
export function releaseIfHeldSync(path: string): void {
  try {
    const holder = holderOf(readFileSync(path, 'utf8'));
    if (holder.pid === process.pid && holder.host === hostname()) unlinkSync(path);
  } catch {
    // no lock file: nothing to free
  }
}

/** A lock file's text, `<pid> <host>` (or a pid alone, as older locks and restore's wrote it: this host). */
function holderOf(text: string): LockHolder {
  const [pidText, holderHost] = text.trim().split(/\s+/);
  return { pid: Number.parseInt(pidText ?? '', 10), host: holderHost || hostname() };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}
