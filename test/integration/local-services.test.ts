// The local services' lifetime: DynamoDB Local is a JVM the CLI starts as its child. A CLI command that is killed
// outright (SIGKILL, a test's timeout, the OOM killer) runs no exit handler, and its JVM used to live on for good.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

/** Runs `script` (an ES module, in the checkout) in its own node process, which prints a port, then SIGKILLs it. */
async function killOwnerOf(script: string): Promise<number> {
  const owner = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((done, fail) => {
    owner.stdout.once('data', (d: Buffer) => done(Number(d.toString().trim())));
    owner.once('exit', (code) => fail(new Error(`the owner exited (${code}) before its service listened`)));
  });
  expect(await listening(port)).toBe(true);
  owner.kill('SIGKILL');
  return port;
}

async function gone(port: number): Promise<boolean> {
  const deadline = Date.now() + 10_000;
  while ((await listening(port)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return !(await listening(port));
}

const listening = (port: number) =>
  new Promise<boolean>((done) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });

describe.skipIf(process.platform !== 'linux')('DynamoDB Local started by a process', () => {
  it('stops when that process is killed with SIGKILL', async () => {
    const port = await killOwnerOf(`
      import { startDynamoLocal } from './cli/local/services.ts';
      const local = await startDynamoLocal();
      console.log(new URL(local.endpoint).port);
      setInterval(() => {}, 1000);
    `);
    expect(await gone(port)).toBe(true);
  }, 90_000);
});

describe.skipIf(process.platform !== 'linux' || !existsSync('/usr/sbin/dovecot'))(
  'Dovecot started by a process (serve)',
  () => {
    it('stops when that process is killed with SIGKILL', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'lifetime-'));
      const port = await killOwnerOf(`
        import { mkdirSync } from 'node:fs';
        import { startDovecot } from './cli/local/dovecot.ts';
        for (const d of ['cur', 'new', 'tmp']) mkdirSync('${dir}/maildir/' + d, { recursive: true });
        const server = await startDovecot({ maildir: '${dir}/maildir', workDir: '${dir}/work' });
        console.log(server.port);
        setInterval(() => {}, 1000);
      `);
      expect(await gone(port)).toBe(true);
    }, 90_000);
  },
);
