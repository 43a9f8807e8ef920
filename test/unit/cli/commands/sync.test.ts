// `sync` as a new user runs it: mistakes in what was asked are refused before anything is started or written,
// in one line naming what and where (the CLI run as a process, with a home and a replica of its own).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, spawnCli } from '../../../support/cli';
import { startSilentServer } from '../../../support/silent-server';

const ROOT = resolve(import.meta.dirname, '../../../..');
let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'mail-archiver-sync-cli-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** This test's own home, data directory and replica, for the CLI as a process (test/support/cli.ts). */
const cliOptions = () => ({
  home: join(root, 'archiver home'),
  cwd: root,
  env: {
    HOME: join(root, 'user home'),
    MAIL_ARCHIVER_CONFIG: join(ROOT, 'mail-archiver.config.json'),
    NO_COLOR: '1',
  },
});
const cli = (args: string[]) => runCli(args, cliOptions());

describe('sync, refused before it starts', () => {
  it('a --ping that is not an http(s) URL (a timer would warn after every run, forever)', async () => {
    const replica = join(root, 'replica');
    for (const url of ['notaurl', 'ftp://hc-ping.com/x']) {
      const run = await cli(['sync', replica, '--ping', url]);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/--ping <url>.*must be an http:\/\/ or https:\/\/ URL/);
      expect(existsSync(replica)).toBe(false);
    }
  }, 60_000);

  it('a --mailbox that is not a mailbox of the archive (a typo never syncs nothing, successfully, forever)', async () => {
    const replica = join(root, 'replica');
    const run = await cli(['sync', replica, '--mailbox', 'alcie@example.com']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /no mailbox alcie@example\.com in this archive \(did you mean alice@example\.com\?\)/,
    );
    expect(run.stderr).not.toMatch(/ at .*\.(ts|js):\d+/);
    // Nothing was started or written: no replica, no local services' data.
    expect(existsSync(replica)).toBe(false);
    expect(existsSync(join(root, 'archiver home', 's3'))).toBe(false);
    // The same through --install-timer: a timer that would sync nothing every 15 minutes is not written.
    const timer = await cli(['sync', replica, '--install-timer', '--mailbox', 'alcie@example.com']);
    expect(timer.code).toBe(1);
    expect(timer.stderr).toMatch(/no mailbox alcie@example\.com/);
    expect(existsSync(join(root, 'user home', '.config', 'systemd'))).toBe(false);
  });

  it('a lock taken on another host: named, and what to do once that process is gone', async () => {
    const replica = join(root, 'replica');
    mkdirSync(join(replica, '.mail-archiver-sync'), { recursive: true });
    const lock = join(replica, '.mail-archiver-sync', 'lock');
    writeFileSync(lock, '4242 nas-elsewhere\n');
    const run = await cli(['sync', replica]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/another sync \(process 4242 on nas-elsewhere\) holds .*replica/);
    // This host cannot tell whether a process of another host is gone: never "taken over by itself".
    expect(run.stderr).not.toMatch(/taken over by itself/);
    expect(run.stderr).toContain(`once process 4242 on nas-elsewhere is gone, remove ${lock}`);
    expect(hostname()).not.toBe('nas-elsewhere');
  });
});

/** A running npm start (this process stands in for it) whose S3 and DynamoDB are at `endpoint`. */
function writeRunningStack(endpoint: string): void {
  const home = join(root, 'archiver home');
  mkdirSync(home, { recursive: true, mode: 0o700 });
  writeFileSync(
    join(home, 'stack.json'),
    JSON.stringify({
      pid: process.pid,
      startedAt: new Date().toISOString(),
      endpoints: { s3: endpoint, dynamodb: endpoint },
      bucket: 'mail-archiver-raw',
      tableName: 'mail-archiver-index',
    }),
    { mode: 0o600 },
  );
}

describe('sync and the archive it reads', () => {
  it("names the local stack's S3 when it does not answer, in the user's terms, without a stack trace", async () => {
    // Its S3 and DynamoDB no longer listen.
    writeRunningStack('http://127.0.0.1:9');
    const run = await cli(['sync', join(root, 'replica')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^mail-archiver: the local stack's S3 server at http:\/\/127\.0\.0\.1:9 is not answering \(connection refused[^)]*\): is `npm start` still running\?\n {2}stop npm start and start it again .*the replica keeps what it has, and the next sync resumes$/m,
    );
    expect(run.stderr).not.toMatch(/ at .*\.(ts|js):\d+/);
    expect(run.stderr).not.toMatch(/--verbose|ECONNREFUSED|missing upstream/);
  }, 60_000);

  it('Ctrl-C or SIGTERM in the middle of a run frees the replica lock (exit 143)', async () => {
    // Its S3 takes connections and never answers: the run waits there, holding its lock.
    const silent = await startSilentServer();
    writeRunningStack(silent.endpoint);
    const replica = join(root, 'replica');
    const lock = join(replica, '.mail-archiver-sync', 'lock');
    const run = spawnCli(['sync', replica], cliOptions());
    try {
      for (let i = 0; i < 600 && !existsSync(lock); i++) await new Promise((r) => setTimeout(r, 50));
      expect(existsSync(lock)).toBe(true);
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(143);
      expect(existsSync(lock)).toBe(false);
    } finally {
      run.child.kill('SIGKILL');
      await silent.close();
    }
  }, 60_000);

  it('--watch without a running stack starts an S3 server for each run and never DynamoDB Local (no JVM)', async () => {
    const replica = join(root, 'replica');
    const watch = spawnCli(['sync', replica, '--watch', '1s'], cliOptions());
    /** The names of the watch's descendant processes, seen while it runs. */
    const seen = new Set<string>();
    const look = () => {
      const table = execFileSync('ps', ['-e', '-o', 'pid=,ppid=,comm='], { encoding: 'utf8' })
        .split('\n')
        .map((line) => line.trim().split(/\s+/))
        .filter((cols) => cols.length >= 3);
      const ours = new Set([watch.child.pid]);
      for (let grew = true; grew; ) {
        grew = false;
        for (const [pid, ppid, comm] of table)
          if (ours.has(Number(ppid)) && !ours.has(Number(pid))) {
            ours.add(Number(pid));
            seen.add(comm as string);
            grew = true;
          }
      }
    };
    try {
      const deadline = Date.now() + 90_000;
      while ((watch.stdout().match(/^synced /gm) ?? []).length < 3) {
        if (Date.now() > deadline || watch.child.exitCode !== null)
          throw new Error(`three runs of --watch did not end within 90 s: ${watch.output()}`);
        look();
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      watch.child.kill('SIGTERM');
      await watch.exited;
    }
    expect([...seen].filter((name) => /java/.test(name))).toEqual([]);
    expect(watch.output()).not.toMatch(/DynamoDB/);
    expect(watch.output()).toMatch(/started S3 for this command/);
  }, 120_000);

  it('--repair checks once: refused with --watch and with --install-timer', async () => {
    const replica = join(root, 'replica');
    const watch = await cli(['sync', replica, '--repair', '--watch', '1m']);
    expect(watch.code).toBe(2);
    expect(watch.stderr).toMatch(/--repair checks the replica once: leave out --watch/);
    const timer = await cli(['sync', replica, '--repair', '--install-timer']);
    expect(timer.code).toBe(2);
    expect(timer.stderr).toMatch(/leave out --install-timer/);
    expect(existsSync(replica)).toBe(false);
  });
});
