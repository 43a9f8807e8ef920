// `npm start` when one of its services dies under it: DynamoDB Local is a JVM of its own, which the kernel's OOM
// killer, a stray kill or a crash can end while the stack runs. The stack must not go on as if it served: it says
// which service stopped, stops the rest and exits 1, and its stack file goes, so the next command starts its own
// services instead of failing on a refused connection.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readRunningStack } from '../../cli/local/running-stack';
import { spawnCli } from '../support/cli';

const home = mkdtempSync(join(tmpdir(), 'mail-archiver-supervision-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('npm start when DynamoDB Local dies', () => {
  it('names the service that stopped, stops the stack, removes its stack file and exits 1', async () => {
    const start = spawnCli(['start', '--smtp-port', '0'], { home });
    try {
      await start.until(/Ctrl-C stops everything/);
      expect(readRunningStack(home)).toBeDefined();
      const pid = start.child.pid;
      const java = spawnSync('pgrep', ['-P', String(pid), '-f', 'DynamoDBLocal'], { encoding: 'utf8' })
        .stdout.trim()
        .split('\n')[0];
      expect(java, 'the JVM of DynamoDB Local, a child of the start process').toMatch(/^\d+$/);
      process.kill(Number(java), 'SIGKILL');
      const stillRunning = new Promise((done) => setTimeout(() => done('still running after 30 s'), 30_000));
      expect(await Promise.race([start.exited, stillRunning])).toBe(1);
      expect(start.output()).toMatch(/DynamoDB Local .*stopped unexpectedly/);
      expect(start.output()).not.toMatch(/\n\s+at /);
      expect(readRunningStack(home)).toBeUndefined();
    } finally {
      start.child.kill('SIGTERM');
    }
  }, 120_000);
});
