// The lock file restore's state and a replica directory are guarded by (shared/adapters/pid-lock.ts).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LockHeldError, releaseIfHeldSync, takeLock } from '../../../shared/adapters/pid-lock';

const dir = mkdtempSync(join(tmpdir(), 'pid-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('takeLock', () => {
  it('writes "<pid> <host>", refuses a live holder, takes over a dead one, and frees it', async () => {
    const path = join(dir, 'a.lock');
    const { release } = await takeLock(path);
    expect(readFileSync(path, 'utf8')).toBe(`${process.pid} ${hostname()}\n`);
    await expect(takeLock(path)).rejects.toBeInstanceOf(LockHeldError);
    await release();
    expect(existsSync(path)).toBe(false);
    const gone = spawnSync(process.execPath, ['-e', '']).pid;
    writeFileSync(path, `${gone}\n`); // the older format: a process id alone
    const taken = await takeLock(path);
    expect(taken.tookOver).toEqual({ pid: gone, host: hostname() });
    await taken.release();
  });

  it('refuses a lock from another host, whose process cannot be checked from here', async () => {
    const path = join(dir, 'b.lock');
    writeFileSync(path, '1 some-other-host\n');
    await expect(takeLock(path)).rejects.toThrow(/held by process 1 on some-other-host/);
  });
});

describe('releaseIfHeldSync', () => {
  it("frees this process's lock and leaves another holder's", async () => {
    const mine = join(dir, 'mine.lock');
    await takeLock(mine);
    releaseIfHeldSync(mine);
    expect(existsSync(mine)).toBe(false);
    const theirs = join(dir, 'theirs.lock');
    writeFileSync(theirs, `1 ${hostname()}\n`);
    releaseIfHeldSync(theirs);
    expect(existsSync(theirs)).toBe(true);
    releaseIfHeldSync(join(dir, 'none.lock'));
  });
});
