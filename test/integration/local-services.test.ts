// The local services' lifetime: DynamoDB Local is a JVM the CLI starts as its child. A CLI command that is killed
// outright (SIGKILL, a test's timeout, the OOM killer) runs no exit handler, and its JVM used to live on for good.
// And its start: the port it was given or chose can be taken by another program before the JVM binds it.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { startDovecot, tryLogin } from '../../cli/local/dovecot';
import { freePort, startDynamoLocal } from '../../cli/local/services';

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

    it('starts again on another port when the free port it chose was taken first', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'dovecot-port-'));
      for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(dir, 'maildir', d), { recursive: true });
      const foreign = await foreignServer();
      const { chosen, pickPort } = takenPortFirst(foreign.port);
      const server = await startDovecot({
        maildir: join(dir, 'maildir'),
        workDir: join(dir, 'work'),
        pickPort,
      });
      try {
        expect(chosen).toHaveLength(2);
        expect(server.port).toBe(chosen[1]);
        expect(await tryLogin(server.port, server.user, server.password)).toBe('ok');
      } finally {
        await server.stop();
        await foreign.close();
      }
    }, 90_000);
  },
);

/** A port picker whose first choice is `taken` (another program's), then free ports; `chosen` records each. */
function takenPortFirst(taken: number): { chosen: number[]; pickPort: () => Promise<number> } {
  const chosen: number[] = [];
  const pickPort = async () => {
    const port = chosen.length === 0 ? taken : await freePort();
    chosen.push(port);
    return port;
  };
  return { chosen, pickPort };
}

/** An HTTP server on 127.0.0.1 that answers 404 to everything (s3rver took DynamoDB Local's port once). */
async function foreignServer(): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((_request, response) => {
    response.statusCode = 404;
    response.end('Not Found');
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

describe('DynamoDB Local is ready when it answers, not when its port does', () => {
  it('refuses a port another program listens on, instead of reporting that program as DynamoDB Local', async () => {
    const foreign = await foreignServer();
    try {
      const outcome = await startDynamoLocal({ port: foreign.port, quickStart: true }).then(
        async (local) => {
          await local.stop();
          return `reported ready at ${local.endpoint}`;
        },
        (error: Error) => error.message,
      );
      expect(outcome).toBe(`port ${foreign.port} on 127.0.0.1 is already in use by another program`);
    } finally {
      await foreign.close();
    }
  }, 90_000);

  it('starts again on another port when the free port it chose was taken first', async () => {
    const foreign = await foreignServer();
    const { chosen, pickPort } = takenPortFirst(foreign.port);
    const local = await startDynamoLocal({ quickStart: true, pickPort });
    try {
      expect(chosen).toHaveLength(2);
      expect(local.endpoint).toBe(`http://127.0.0.1:${chosen[1]}`);
      const client = new DynamoDBClient({
        endpoint: local.endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'readiness', secretAccessKey: 'x' },
      });
      expect((await client.send(new ListTablesCommand({}))).TableNames).toEqual([]);
      client.destroy();
    } finally {
      await local.stop();
      await foreign.close();
    }
  }, 90_000);
});
