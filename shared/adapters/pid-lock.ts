// A lock file holding the process id and host of its holder, created exclusively (hard-linked into place, never
// empty): one run at a time over a state (a restore's state file, a replica directory). A lock whose process is
// gone (SIGKILL, power loss) is taken over; a lock held by a live process, or by a process of another host (which
// cannot be checked from here), is refused.
import { readFileSync, unlinkSync } from 'node:fs';
import { link, open, readFile, unlink, writeFile } from 'node:fs/promises';
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
      await createWithContent(path, `${process.pid} ${host}\n`);
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
 * Creates `path` holding `text`, failing with EEXIST when it exists, so that nobody ever reads it empty: the text
 * is written to a file of this process first and hard-linked into place (link(2) fails atomically when the name
 * exists). An empty lock, read between an exclusive create and its write, was taken for a dead holder's and taken
 * over: two syncs ran at once. A file system without hard links (some network shares) gets the exclusive create
 * and write, with that window.
 */
export async function createWithContent(path: string, text: string): Promise<void> {
  // Named as shared/replica/state.ts's temporaries (`<name>.tmp-<pid>`), which a later write beside it sweeps.
  const own = `${path}.tmp-${process.pid}`;
  await writeFile(own, text, { mode: 0o600 }).catch(async (error: unknown) => {
    await unlink(own).catch(() => undefined); // a full disk: nothing left behind
    throw error;
  });
  try {
    await link(own, path);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP') throw error;
    const handle = await open(path, 'wx', 0o600);
    try {
      await handle.writeFile(text);
    } catch (writeError) {
      await handle.close().catch(() => undefined);
      await unlink(path).catch(() => undefined);
      throw writeError;
    }
    await handle.close();
  } finally {
    await unlink(own).catch(() => undefined);
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

/** Whether a process `pid` runs on this host (one of another user's counts: it cannot be signalled, EPERM). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}
