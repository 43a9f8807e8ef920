// `mail-archiver sync` end to end: the CLI (a separate process each run) against DynamoDB Local and s3rver holding
// real third-party mail (the corpora) for several mailboxes, journaled Sent mail and an import. The replica
// equals an unpacked export of each mailbox (`diff -r`, and the messages' mtimes); a run killed with SIGKILL
// resumes to the same tree; a second concurrent run is refused and a dead run's lock taken over; an object removed
// upstream is reported and the replica keeps what it has; a log object put late, inside the look-back, is read;
// `serve` of a replica mailbox (a real Dovecot) shows a connected IMAP client what a sync adds, with its UIDs.
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DeleteObjectCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverThrough, LOCAL_BUCKET, LOCAL_TABLE } from '../../cli/local/archive';
import { startDovecot } from '../../cli/local/dovecot';
import { ensureIndexTable } from '../../cli/local/index-table';
import { ensureBucket } from '../../cli/local/services';
import { archiveStorage } from '../../cli/target/archive';
import { createIngestHandler } from '../../lambdas/ingest/handler';
import { DeliveryLog } from '../../shared/delivery-log/log';
import { importMessages } from '../../shared/history/import';
import { exportToFile, unpack } from '../support/bundles';
import { exampleConfig } from '../support/config';
import { corporaPresent, corporaSkipReason, corpusMessages } from '../support/corpora';
import { readOverImap } from '../support/imap';
import { makeMessage } from '../support/messages';
import { startTestServices, type TestServices } from '../support/services';
import { receiveLikeSes } from '../support/ses';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'cli/bin.js');
const config = exampleConfig();
const quiet = { info: () => undefined, warn: () => undefined };
const MAILBOXES = ['alice@example.com', 'bob@example.com'];

let services: TestServices;
let storage: ReturnType<typeof archiveStorage>;
let root: string;
let home: string;

const env = (): NodeJS.ProcessEnv => ({
  ...process.env,
  MAIL_ARCHIVER_HOME: home,
  MAIL_ARCHIVER_CONFIG: join(ROOT, 'mail-archiver.config.json'),
  CI: 'true',
  NO_COLOR: '1',
});

interface Run {
  stdout: string;
  stderr: string;
  code: number | null;
}
const cli = (args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> =>
  new Promise((done) =>
    execFile(
      'node',
      [BIN, ...args],
      { cwd: root, env: { ...env(), ...extraEnv }, maxBuffer: 64 << 20 },
      (error, stdout, stderr) =>
        done({ stdout, stderr, code: error ? ((error as { code?: number }).code ?? null) : 0 }),
    ),
  );

let clock = Date.parse('2025-01-01T00:00:00Z');
async function deliver(message: Buffer, recipients: string[], log = storage.deliveryLog) {
  clock += 61_000;
  const handler = createIngestHandler({
    config,
    store: storage.store,
    index: storage.index,
    deliveryLog: log,
    logger: quiet,
  });
  const { notification } = await receiveLikeSes(storage.store, storage.bucket, message, {
    recipients,
    timestamp: new Date(clock),
  });
  await deliverThrough(handler)(notification);
}

/** Exports `mailbox` with the replica manifest's createdAt and unpacks it: what the replica must equal. */
async function exportedTree(replica: string, mailbox: string, into: string): Promise<string> {
  const manifest = JSON.parse(readFileSync(join(replica, mailbox, 'manifest.json'), 'utf8'));
  const bundle = join(root, `${mailbox}-${Date.now()}.tar.gz`);
  await exportToFile(
    { index: storage.index, store: storage.store },
    { mailbox, format: 'maildir', now: new Date(manifest.createdAt) },
    bundle,
  );
  mkdirSync(into, { recursive: true });
  unpack(bundle, into);
  return into;
}

/** Every file under `dir` (relative path -> mtime in seconds), the replica's own state directory left out. */
function mtimes(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (d: string, rel: string) => {
    for (const name of readdirSync(d).sort()) {
      if (name === '.mail-archiver-sync') continue;
      const path = join(d, name);
      const info = statSync(path);
      if (info.isDirectory()) walk(path, `${rel}${name}/`);
      else if (rel.includes('/cur/')) out.set(`${rel}${name}`, Math.floor(info.mtimeMs / 1000));
    }
  };
  walk(dir, '');
  return out;
}

async function expectEqualsExport(replica: string, mailbox: string) {
  const exported = await exportedTree(replica, mailbox, join(root, `export-${Date.now()}-${mailbox}`));
  const diff = (() => {
    try {
      return execFileSync('diff', ['-r', exported, join(replica, mailbox)], { encoding: 'utf8' });
    } catch (error) {
      return (error as { stdout: string }).stdout;
    }
  })();
  expect(diff).toBe('');
  expect(mtimes(join(replica, mailbox))).toEqual(mtimes(exported));
}

/** An HTTP server on loopback standing in for a healthchecks monitor: the requests it got. */
async function pingMonitor(path: string) {
  const pings: string[] = [];
  const monitor = createServer((request, response) => {
    pings.push(`${request.method} ${request.url}`);
    response.end('OK');
  });
  await new Promise<void>((r) => monitor.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(monitor.address() as AddressInfo).port}${path}`;
  return { url, pings, close: () => monitor.close() };
}

const leftovers = (replica: string) =>
  execFileSync('find', ['.', '-path', '*/tmp/*', '-type', 'f'], { cwd: replica, encoding: 'utf8' }).trim();

beforeAll(async () => {
  services = await startTestServices();
  await Promise.all([
    ensureBucket(services.clients.s3, LOCAL_BUCKET),
    ensureIndexTable(services.clients.dynamodb, LOCAL_TABLE),
  ]);
  storage = archiveStorage(services.clients, LOCAL_BUCKET, LOCAL_TABLE);
  root = mkdtempSync(join(tmpdir(), 'mail-archiver-sync-'));
  home = join(root, 'home');
  mkdirSync(home, { mode: 0o700 });
  // The CLI uses these services as it would a running `npm start` (this process stands for its pid).
  writeFileSync(
    join(home, 'stack.json'),
    JSON.stringify({
      pid: process.pid,
      startedAt: new Date().toISOString(),
      endpoints: services.endpoints,
      bucket: LOCAL_BUCKET,
      tableName: LOCAL_TABLE,
    }),
    { mode: 0o600 },
  );
  // Real mail for two mailboxes, journaled Sent mail, and an import (one log object per batch).
  const corpus = corpusMessages().slice(0, 50);
  for (const [i, path] of corpus.entries())
    await deliver(readFileSync(path), i % 3 ? ['alice@example.com'] : MAILBOXES);
  for (let i = 0; i < 5; i++)
    await deliver(
      makeMessage({ subject: `sent ${i}`, from: 'Alice <alice@example.com>', to: 'x@elsewhere.example' }),
      [config.journalAddress as string],
    );
  const history = join(root, 'history');
  mkdirSync(history);
  for (let i = 0; i < 6; i++)
    writeFileSync(
      join(history, `${i}.eml`),
      makeMessage({ subject: `old ${i}`, to: 'bob@example.com', eol: '\n' }),
    );
  const handler = createIngestHandler({ config, ...storage, logger: quiet });
  const batch = storage.deliveryLog.batch('import');
  const report = await importMessages(
    config,
    { ...storage, deliver: (n) => deliverThrough(handler)(n, { logBatch: batch }) },
    [history],
    {},
  );
  expect(report.archived).toBe(6);
  await batch.flush();
}, 300_000);

afterAll(async () => {
  await services?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe.skipIf(!corporaPresent)('mail-archiver sync', () => {
  if (!corporaPresent) console.warn(corporaSkipReason);
  const replica = () => join(root, 'replica');

  it('writes each mailbox as an unpacked export of it would be, and a second run finds nothing new', async () => {
    const first = await cli(['--json', 'sync', replica(), '--once']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const report = JSON.parse(first.stdout);
    expect(report.ok).toBe(true);
    expect(report.added).toBeGreaterThanOrEqual(70);
    for (const mailbox of MAILBOXES) await expectEqualsExport(replica(), mailbox);
    expect(readdirSync(join(replica(), 'alice@example.com', 'Maildir'))).toContain('.Sent');
    const again = await cli(['--json', 'sync', replica()]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ ok: true, added: 0, logObjects: 0 });
  }, 180_000);

  it('takes new mail, and a log object put late (inside the look-back) too', async () => {
    await deliver(makeMessage({ subject: 'new one' }), ['bob@example.com']);
    const late = new DeliveryLog(storage.store, storage.bucket, {
      now: () => new Date(Date.now() - 5 * 60_000),
    });
    await deliver(makeMessage({ subject: 'late one' }), ['bob@example.com'], late);
    // status finds the replica through the archiver's home (sync recorded it) and counts what it has not read.
    const before = await cli(['--json', 'status']);
    expect(before.code).toBe(0);
    const behind = JSON.parse(before.stdout).replicas;
    expect(behind).toHaveLength(1);
    expect(behind[0]).toMatchObject({ dir: replica(), state: 'ok', behind: { logObjects: 2 } });
    expect(Date.parse(behind[0].lastSuccessAt)).toBeGreaterThan(Date.now() - 10 * 60_000);
    // --ping: a GET after the successful run (the healthchecks convention).
    const { url, pings, close } = await pingMonitor('/ping/replica');
    const run = await cli(['--json', 'sync', replica(), '--ping', url]).finally(close);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: true, added: 2 });
    expect(pings).toEqual(['GET /ping/replica']);
    await expectEqualsExport(replica(), 'bob@example.com');
    // verify takes a replica's mailbox as it takes an unpacked bundle.
    const verified = await cli(['verify', join(replica(), 'bob@example.com')]);
    expect(verified.stderr).toBe('');
    expect(verified.code).toBe(0);
    const after = await cli(['status']);
    expect(after.stdout).toContain(`${replica()}: last successful sync`);
    expect(after.stdout).toMatch(/ago\); up to date/);
    const doctor = await cli(['--json', 'doctor']);
    expect(JSON.parse(doctor.stdout).checks).toContainEqual(
      expect.objectContaining({ name: `sync replica ${replica()}`, status: 'ok' }),
    );
  }, 120_000);

  it("serves a replica while sync adds to it: new mail reaches a connected IMAP client with the replica's UIDs", async () => {
    const mailbox = join(replica(), 'bob@example.com');
    const server = spawn('node', [BIN, '--json', 'serve', mailbox, '--port', '0'], {
      cwd: root,
      env: env(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    server.stdout?.on('data', (d: Buffer) => {
      stdout += d;
    });
    server.stderr?.on('data', (d: Buffer) => {
      stderr += d;
    });
    const exited = new Promise((r) => server.once('exit', r));
    const clients: ImapFlow[] = [];
    let timer: NodeJS.Timeout | undefined;
    try {
      for (let i = 0; i < 1200 && !stdout.includes('\n'); i++) await new Promise((r) => setTimeout(r, 50));
      const login = JSON.parse(stdout.split('\n')[0] as string);
      const connect = async () => {
        const client = new ImapFlow({
          host: '127.0.0.1',
          port: login.port,
          secure: false,
          auth: { user: login.user, pass: login.password },
          logger: false,
        });
        clients.push(client);
        await client.connect();
        return client;
      };
      // A client waiting in IDLE on INBOX (imapflow would enter IDLE by itself after 15 s of quiet).
      const watcher = await connect();
      // imapflow's mailbox object is live (EXISTS updates it): keep what it said at EXAMINE.
      const opened = { ...(await watcher.mailboxOpen('INBOX', { readOnly: true })) };
      const before = JSON.parse(readFileSync(join(mailbox, 'manifest.json'), 'utf8'));
      expect(opened.exists).toBe(
        before.messages.filter((m: { folder: string }) => m.folder === 'INBOX').length,
      );
      const announced = new Promise<number>((r) =>
        watcher.on('exists', (data: { path: string; count: number }) => {
          if (data.path === 'INBOX' && data.count >= opened.exists + 2) r(data.count);
        }),
      );
      void watcher.idle();
      await deliver(makeMessage({ subject: 'served live 1' }), ['bob@example.com']);
      await deliver(makeMessage({ subject: 'served live 2' }), ['bob@example.com']);
      // Sent mail of bob's: a folder the replica did not have yet.
      await deliver(
        makeMessage({ subject: 'bob sent', from: 'Bob <bob@example.com>', to: 'x@elsewhere.example' }),
        [config.journalAddress as string],
      );
      const run = await cli(['--json', 'sync', replica(), '--mailbox', 'bob@example.com']);
      expect(JSON.parse(run.stdout)).toMatchObject({ ok: true, added: 3 });
      // Dovecot says EXISTS to the idling client by itself, once serve has added the new mail to its copy.
      const count = await Promise.race([
        announced,
        new Promise<never>((_, no) => {
          timer = setTimeout(
            () => no(new Error(`no EXISTS in 30 s; serve said: ${stdout}${stderr}`)),
            30_000,
          );
        }),
      ]);
      expect(count).toBe(opened.exists + 2);
      // With the UIDs the replica gave them (its manifest, from its dovecot-uidlist), and the bytes archived.
      const manifest = JSON.parse(readFileSync(join(mailbox, 'manifest.json'), 'utf8'));
      const expected = (folder: string, from: number) =>
        manifest.messages
          .filter((m: { folder: string; uid: number }) => m.folder === folder && m.uid >= from)
          .map((m: { uid: number; sha256: string }) => ({ uid: m.uid, sha256: m.sha256 }));
      const served = async (client: ImapFlow, range: string) => {
        const out = [];
        for await (const m of client.fetch(range, { uid: true, source: true }, { uid: true }))
          out.push({
            uid: m.uid,
            sha256: createHash('sha256')
              .update(m.source as Buffer)
              .digest('hex'),
          });
        return out;
      };
      const newInInbox = expected('INBOX', Number(opened.uidNext));
      expect(newInInbox).toHaveLength(2);
      const reader = await connect();
      const inbox = await reader.status('INBOX', { messages: true, uidNext: true });
      expect(inbox).toMatchObject({
        messages: opened.exists + 2,
        uidNext: manifest.folders.find((f: { name: string }) => f.name === 'INBOX').nextUid,
      });
      await reader.mailboxOpen('INBOX', { readOnly: true });
      expect(await served(reader, `${opened.uidNext}:*`)).toEqual(newInInbox);
      // The new Sent folder: listed with Dovecot's \Sent flag, with the replica's UIDVALIDITY and UID.
      const folders = await reader.list();
      expect(folders.find((f) => f.path === 'Sent')?.flags).toContain('\\Sent');
      const sent = await reader.status('Sent', { messages: true, uidValidity: true });
      if (!sent) throw new Error('no STATUS answer for Sent');
      expect(sent.messages).toBe(1);
      expect(Number(sent.uidValidity)).toBe(
        manifest.folders.find((f: { name: string }) => f.name === 'Sent').uidValidity,
      );
      await reader.mailboxOpen('Sent', { readOnly: true });
      expect(await served(reader, '1:*')).toEqual(expected('Sent', 1));
      expect(stdout).toContain(
        `{"folder":"INBOX","added":[${newInInbox.map((m: { uid: number }) => m.uid).join(',')}]}`,
      );
      // Serving never writes into the replica.
      await expectEqualsExport(replica(), 'bob@example.com');
    } finally {
      clearTimeout(timer);
      for (const client of clients) await client.logout().catch(() => undefined);
      server.kill('SIGTERM');
      await exited;
    }
  }, 120_000);

  it('reports an object removed upstream, keeps what it has, and tries it again', async () => {
    await deliver(makeMessage({ subject: 'will vanish' }), ['bob@example.com']);
    const rows = [];
    for await (const row of storage.index.listDeliveries('bob@example.com')) rows.push(row);
    const vanished =
      rows.find((r) => r.subject === 'will vanish') ??
      rows.sort((a, b) => b.receivedAt.localeCompare(a.receivedAt))[0];
    const kept = rows.find((r) => r !== vanished) as (typeof rows)[number];
    // The local bucket is versioned (as on AWS) and the log names the version: a message removed upstream is one
    // whose every version is deleted (a plain delete only adds a delete marker).
    for (const location of [vanished?.location, kept.location]) {
      const { Versions = [], DeleteMarkers = [] } = await services.clients.s3.send(
        new ListObjectVersionsCommand({ Bucket: storage.bucket, Prefix: location?.key }),
      );
      for (const version of [...Versions, ...DeleteMarkers])
        await services.clients.s3.send(
          new DeleteObjectCommand({ Bucket: storage.bucket, Key: version.Key, VersionId: version.VersionId }),
        );
    }
    const files = readdirSync(join(replica(), 'bob@example.com', 'Maildir', 'cur')).length;
    // A run with a problem does not ping (the monitor then alerts on the silence).
    const { url, pings, close } = await pingMonitor('/ping');
    const run = await cli(['--json', 'sync', replica(), '--ping', url]).finally(close);
    expect(pings).toEqual([]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/missing upstream or not readable/);
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: false, added: 0, pending: 1 });
    expect(readdirSync(join(replica(), 'bob@example.com', 'Maildir', 'cur')).length).toBe(files);
    const again = await cli(['sync', replica()]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/tried again on the next run/);
  }, 120_000);

  it('resumes after SIGKILL to the same tree, with no partial file and no duplicate', async () => {
    const dir = join(root, 'killed');
    const child: ChildProcess = spawn(
      'node',
      [BIN, 'sync', dir, '--mailbox', 'alice@example.com', '--concurrency', '1'],
      {
        cwd: root,
        env: env(),
        stdio: 'ignore',
      },
    );
    // Killed while it downloads: messages wait, checked, in tmp/ until they are renamed into cur/ together.
    const tmp = join(dir, 'alice@example.com', 'Maildir', 'tmp');
    for (let i = 0; i < 3000; i++) {
      const count = (() => {
        try {
          return readdirSync(tmp).length;
        } catch {
          return 0;
        }
      })();
      if (count >= 3) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // The killed run's lock is left behind; the next run takes it over (its process is gone).
    expect(readFileSync(join(dir, '.mail-archiver-sync', 'lock'), 'utf8')).toMatch(/^\d+ /);
    const resumed = await cli(['--json', 'sync', dir, '--mailbox', 'alice@example.com']);
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout).tookOverFrom.pid).toBe(child.pid);
    await expectEqualsExport(dir, 'alice@example.com');
    expect(leftovers(dir)).toBe('');
  }, 180_000);

  it('refuses a second concurrent run, and a directory that is not a replica', async () => {
    const dir = join(root, 'concurrent');
    const first = spawn('node', [BIN, 'sync', dir, '--concurrency', '1'], {
      cwd: root,
      env: env(),
      stdio: 'ignore',
    });
    const lock = join(dir, '.mail-archiver-sync', 'lock');
    const holdsLock = () => {
      try {
        return statSync(lock).isFile();
      } catch {
        return false;
      }
    };
    // The first run is let run in slices of a few milliseconds and looked at while paused, so that it is caught
    // holding the lock however fast it is (polling a running process lost the race once it synced in under 50 ms).
    first.kill('SIGSTOP');
    for (let i = 0; i < 20_000 && !holdsLock() && first.exitCode === null; i++) {
      first.kill('SIGCONT');
      await new Promise((r) => setTimeout(r, 2));
      first.kill('SIGSTOP');
    }
    expect(holdsLock()).toBe(true);
    const second = await cli(['sync', dir]);
    first.kill('SIGCONT');
    const firstExit = new Promise((r) => first.once('exit', r));
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(
      new RegExp(`another sync \\(process ${first.pid} on .*\\) is running over`),
    );
    expect(second.stderr).not.toMatch(/\n\s+at /);
    expect(await firstExit).toBe(1); // bob's removed object, reported
    const notReplica = join(root, 'not-a-replica');
    mkdirSync(notReplica);
    writeFileSync(join(notReplica, 'photo.jpg'), 'x');
    const refused = await cli(['sync', notReplica]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/not-a-replica is not a replica/);
    expect(readdirSync(notReplica)).toEqual(['photo.jpg']);
  }, 180_000);
  it('--watch syncs again every interval, and a run that fails (another sync holding the lock) is reported and tried again', async () => {
    const dir = join(root, 'watched');
    const cur = join(dir, 'alice@example.com', 'Maildir', 'cur');
    const count = () => {
      try {
        return readdirSync(cur).length;
      } catch {
        return 0;
      }
    };
    const waitFor = async (what: string, done: () => boolean) => {
      for (let i = 0; i < 1200 && !done(); i++) await new Promise((r) => setTimeout(r, 50));
      if (!done()) throw new Error(`--watch: ${what} did not happen within 60 s; stderr: ${stderr}`);
    };
    const { url, pings, close } = await pingMonitor('/ping/watch');
    const watcher = spawn(
      'node',
      [BIN, 'sync', dir, '--mailbox', 'alice@example.com', '--watch', '1s', '--ping', url],
      { cwd: root, env: env(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    watcher.stderr?.on('data', (d) => {
      stderr += d;
    });
    try {
      await waitFor('a first run', () => pings.length >= 1);
      const first = count();
      expect(first).toBeGreaterThan(0);
      // Another sync (this live process, on this host) holds the lock: the watch's next run fails, and says so.
      const lock = join(dir, '.mail-archiver-sync', 'lock');
      await waitFor('the first run to release its lock', () => {
        try {
          statSync(lock);
          return false;
        } catch {
          return true;
        }
      });
      writeFileSync(lock, `${process.pid} ${hostname()}\n`);
      await deliver(makeMessage({ subject: 'while watched' }), ['alice@example.com']);
      await waitFor('a failed run reported', () => /trying again in 1s \(--watch\)/.test(stderr));
      expect(stderr).toMatch(new RegExp(`another sync \\(process ${process.pid} on .*\\) is running over`));
      expect(stderr).not.toMatch(/\n\s+at /);
      expect(watcher.exitCode).toBeNull();
      expect(count()).toBe(first);
      // The other sync ends: the next run takes the new message and pings again.
      rmSync(lock);
      const pinged = pings.length;
      await waitFor('the run after the lock was freed', () => count() === first + 1 && pings.length > pinged);
      expect(pings.every((p) => p === 'GET /ping/watch')).toBe(true);
    } finally {
      watcher.kill('SIGTERM');
      await new Promise((r) => (watcher.exitCode === null ? watcher.once('exit', r) : r(null)));
      close();
    }
    await expectEqualsExport(dir, 'alice@example.com');
  }, 180_000);

  it('--watch connects anew for each run: a stack restarted on other ports is followed, and the watch catches up', async () => {
    const dir = join(root, 'watched-restart');
    const otherHome = join(root, 'home-restarted');
    mkdirSync(otherHome, { mode: 0o700 });
    const stack = (s3: string) =>
      writeFileSync(
        join(otherHome, 'stack.json'),
        JSON.stringify({
          pid: process.pid,
          startedAt: new Date().toISOString(),
          endpoints: { ...services.endpoints, s3 },
          bucket: LOCAL_BUCKET,
          tableName: LOCAL_TABLE,
        }),
        { mode: 0o600 },
      );
    // The stack as it was before a restart: nothing listens on its S3 port any more.
    stack('http://127.0.0.1:1');
    const watcher = spawn('node', [BIN, 'sync', dir, '--mailbox', 'alice@example.com', '--watch', '1s'], {
      cwd: root,
      env: { ...env(), MAIL_ARCHIVER_HOME: otherHome },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    watcher.stderr?.on('data', (d) => {
      stderr += d;
    });
    const waitFor = async (what: string, done: () => boolean) => {
      for (let i = 0; i < 1200 && !done(); i++) await new Promise((r) => setTimeout(r, 50));
      if (!done()) throw new Error(`--watch: ${what} did not happen within 60 s; stderr: ${stderr}`);
    };
    try {
      await waitFor('a failed run reported', () => /trying again in 1s \(--watch\)/.test(stderr));
      // The stack back, on its new ports: the next run reads it.
      stack(services.endpoints.s3);
      // The run's last write is its progress (lastRun): the manifest comes before README.txt, and a watcher stopped
      // between the two leaves README.txt.tmp-<pid> behind (seen under load 16).
      await waitFor('the run after the restart', () => {
        try {
          return (
            'lastRun' in JSON.parse(readFileSync(join(dir, '.mail-archiver-sync', 'progress.json'), 'utf8'))
          );
        } catch {
          return false;
        }
      });
      expect(watcher.exitCode).toBeNull();
    } finally {
      watcher.kill('SIGTERM');
      await new Promise((r) => (watcher.exitCode === null ? watcher.once('exit', r) : r(null)));
    }
    await expectEqualsExport(dir, 'alice@example.com');
  }, 180_000);

  it('stops on a full disk with one line naming the replica, counts nothing half-written, and the next run completes', async (context) => {
    const mount = join(root, 'small-disk');
    mkdirSync(mount);
    // A disk of half what alice's replica takes fills in the middle of her first sync.
    const needed = Number(
      execFileSync('du', ['-sk', join(replica(), 'alice@example.com')], { encoding: 'utf8' }).split('\t')[0],
    );
    try {
      execFileSync(
        'mount',
        ['-t', 'tmpfs', '-o', `size=${Math.ceil(needed / 2)}k,mode=0700`, 'tmpfs', mount],
        { stdio: 'pipe' },
      );
    } catch (error) {
      console.warn(
        `full disk test skipped: cannot mount a small tmpfs here (${String((error as { stderr?: Buffer }).stderr ?? error).trim()}); it needs root`,
      );
      context.skip();
    }
    try {
      const dir = join(mount, 'replica');
      const full = await cli(['sync', dir, '--mailbox', 'alice@example.com']);
      expect(full.code).toBe(1);
      expect(full.stderr.trim().split('\n')).toEqual([
        expect.stringContaining(`the disk holding ${dir} is full`),
      ]);
      // Nothing half-written is counted: every file a uidlist or the journal names is whole (the export's bytes).
      const exported = join(root, `export-full-${Date.now()}`);
      const bundle = join(root, `alice-full-${Date.now()}.tar.gz`);
      await exportToFile(
        { index: storage.index, store: storage.store },
        { mailbox: 'alice@example.com', format: 'maildir' },
        bundle,
      );
      mkdirSync(exported);
      unpack(bundle, exported);
      const named = new Set<string>();
      const maildir = join(dir, 'alice@example.com', 'Maildir');
      const folders = (() => {
        try {
          return [
            '.',
            ...readdirSync(maildir).filter(
              (n) => n.startsWith('.') && statSync(join(maildir, n)).isDirectory(),
            ),
          ];
        } catch {
          return [];
        }
      })();
      for (const folder of folders) {
        const uidlist = join(maildir, folder, 'dovecot-uidlist');
        let text = '';
        try {
          text = readFileSync(uidlist, 'utf8');
        } catch {
          continue;
        }
        const files = readdirSync(join(maildir, folder, 'cur'));
        for (const line of text.split('\n').slice(1).filter(Boolean)) {
          const base = line.slice(line.indexOf(':') + 1);
          named.add(base);
          const file = files.find((f) => f.startsWith(`${base}:2,`));
          expect(file, `${folder} ${base}`).toBeDefined();
          expect(readFileSync(join(maildir, folder, 'cur', file as string))).toEqual(
            readFileSync(join(exported, 'alice@example.com', 'Maildir', folder, 'cur', file as string)),
          );
        }
      }
      const journal = join(dir, '.mail-archiver-sync', 'mailboxes', 'alice%40example.com.jsonl');
      for (const line of (() => {
        try {
          return readFileSync(journal, 'utf8').split('\n').filter(Boolean);
        } catch {
          return [];
        }
      })())
        expect(named.has(JSON.parse(line).file)).toBe(true);
      // Space freed: the next run completes, and leaves nothing of the failed one behind.
      execFileSync('mount', ['-o', 'remount,size=256m', mount]);
      const again = await cli(['sync', dir, '--mailbox', 'alice@example.com']);
      expect(again.stderr).toBe('');
      expect(again.code).toBe(0);
      await expectEqualsExport(dir, 'alice@example.com');
      expect(leftovers(dir)).toBe('');
      expect(execFileSync('find', ['.', '-name', '*.tmp-*'], { cwd: dir, encoding: 'utf8' }).trim()).toBe('');
    } finally {
      execFileSync('umount', ['-l', mount]);
    }
  }, 180_000);

  it('restores a replica mailbox into a new IMAP server (Dovecot): every message moved and verified', async () => {
    const dir = join(root, 'restore-source');
    const synced = await cli(['sync', dir, '--mailbox', 'alice@example.com']);
    expect(synced.code).toBe(0);
    const mailboxDir = join(dir, 'alice@example.com');
    const manifest = JSON.parse(readFileSync(join(mailboxDir, 'manifest.json'), 'utf8')) as {
      messages: { folder: string; file: string }[];
    };
    // The new provider: a Dovecot of its own, nothing in it.
    const maildir = join(root, 'new-provider', 'Maildir');
    mkdirSync(maildir, { recursive: true });
    const server = await startDovecot({
      maildir,
      workDir: join(root, 'new-provider', 'dovecot'),
      index: 'disk',
    });
    try {
      const url = `imap://${server.user}@${server.host}:${server.port}`;
      const restored = await cli(['restore', mailboxDir, '--imap', url], {
        MAIL_ARCHIVER_IMAP_PASSWORD: server.password,
      });
      expect(restored.stderr).not.toMatch(/\n\s+at /);
      expect(restored.code).toBe(0);
      const count = manifest.messages.length;
      expect(`${restored.stdout}\n${restored.stderr}`).toContain(
        `${count} messages: moved ${count}, already there 0, refused 0, verified ${count}`,
      );
      // Read back over IMAP, independently of restore's own check: each folder holds the replica's messages (line
      // ends aside: the server hands every line out with CRLF, the replica's file may hold LF).
      const lf = (bytes: Buffer) =>
        createHash('sha256').update(bytes.toString('latin1').replace(/\r\n/g, '\n'), 'latin1').digest('hex');
      const served = await readOverImap(server);
      const onServer = new Map(
        [...served.byFolder].map(([folder, { messages }]) => [
          folder,
          messages.map((m) => lf(m.source)).sort(),
        ]),
      );
      const inReplica = new Map<string, string[]>();
      for (const m of manifest.messages) {
        const file = join(mailboxDir, m.file);
        inReplica.set(m.folder, [...(inReplica.get(m.folder) ?? []), lf(readFileSync(file))].sort());
      }
      for (const [folder, list] of onServer) if (list.length === 0) onServer.delete(folder);
      expect(onServer).toEqual(inReplica);
      // Run again: everything is found there already, nothing appended twice.
      const again = await cli(['restore', mailboxDir, '--imap', url], {
        MAIL_ARCHIVER_IMAP_PASSWORD: server.password,
      });
      expect(again.code).toBe(0);
      expect(`${again.stdout}\n${again.stderr}`).toContain(`moved 0, already there ${count}`);
    } finally {
      await server.stop();
    }
  }, 180_000);
});
