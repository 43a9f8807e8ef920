// `sync` as a new user runs it: mistakes in what was asked are refused before anything is started or written,
// in one line naming what and where (the CLI run as a process, with a home and a replica of its own).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { leftOutByDefault } from '../../../../cli/commands/sync';
import { listReplicas, recordReplica } from '../../../../shared/replica/registry';
import { runCli, spawnCli } from '../../../support/cli';
import { exampleConfig } from '../../../support/config';
import { startSilentServer } from '../../../support/silent-server';

const ROOT = resolve(import.meta.dirname, '../../../..');
/** Why a read-only tmpfs cannot be mounted here (the test of a read-only replica skips, saying so). */
const READ_ONLY_MOUNT = readOnlyMountProblem();
if (READ_ONLY_MOUNT)
  console.warn(`skipped: a read-only tmpfs cannot be mounted here (${READ_ONLY_MOUNT}); it needs root`);
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

describe('the mailboxes a sync of every mailbox leaves out', () => {
  it("is the canary's (as export, which exports it only when named), unless a configured mailbox has that address", () => {
    expect(leftOutByDefault(exampleConfig())).toEqual(['canary@example.com']);
    expect(leftOutByDefault(exampleConfig({ health: { canary: { address: 'probe@example.com' } } }))).toEqual(
      ['probe@example.com'],
    );
    const real = exampleConfig({
      health: { canary: { enabled: false } },
      mailboxes: { 'canary@example.com': { forwardTo: [] } },
    });
    expect(leftOutByDefault(real)).toEqual([]);
  });
});

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

  it('a directory inside a replica (its mailbox): names the replica and the command to run, exit 2', async () => {
    const replica = join(root, 'replica');
    mkdirSync(join(replica, '.mail-archiver-sync'), { recursive: true });
    mkdirSync(join(replica, 'alice@example.com', 'Maildir'), { recursive: true });
    const run = await cli(['sync', join(replica, 'alice@example.com')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      `is the mailbox alice@example.com of the replica at ${replica}: run \`sync ${replica}\` (with --mailbox alice@example.com for only it)`,
    );
    expect(run.stderr).not.toMatch(/ at .*\.(ts|js):\d+/);
    // Refused before anything started, and no second replica begun inside the first.
    expect(existsSync(join(root, 'archiver home', 's3'))).toBe(false);
    expect(existsSync(join(replica, 'alice@example.com', '.mail-archiver-sync'))).toBe(false);
    const deeper = await cli(['sync', join(replica, 'new', 'place')]);
    expect(deeper.code).toBe(2);
    expect(deeper.stderr).toContain(`is inside the replica at ${replica}`);
    expect(existsSync(join(replica, 'new'))).toBe(false);
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

/** Why a read-only tmpfs cannot be mounted here (it needs root), or undefined when it can. */
function readOnlyMountProblem(): string | undefined {
  const probe = mkdtempSync(join(tmpdir(), 'mail-archiver-ro-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=4k', 'tmpfs', probe], { stdio: 'pipe' });
    execFileSync('umount', [probe]);
    return undefined;
  } catch (error) {
    return String(error);
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

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

describe('sync --forget: a replica moved or removed by hand leaves the list of status and doctor', () => {
  it('forgets a listed directory without touching it, and names the list when the directory is not in it', async () => {
    const home = join(root, 'archiver home');
    const kept = join(root, 'kept');
    const moved = join(root, 'moved away');
    mkdirSync(join(kept, '.mail-archiver-sync'), { recursive: true });
    await recordReplica(home, 'local', kept);
    await recordReplica(home, 'local', moved);
    const run = await cli(['sync', '--forget', moved]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      `${moved} is no longer listed by status and doctor; nothing in it was touched`,
    );
    expect(await listReplicas(home, 'local')).toEqual([kept]);
    const again = await cli(['sync', '--forget', moved]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`${moved} is not in this machine's list of local replicas`);
    expect(again.stderr).toContain(`listed: ${kept}`);
    // Forgetting a replica that is there touches nothing in it.
    expect((await cli(['sync', '--forget', kept])).code).toBe(0);
    expect(existsSync(join(kept, '.mail-archiver-sync'))).toBe(true);
    const mixed = await cli(['sync', '--forget', kept, '--watch', '1m']);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toMatch(/--forget syncs nothing: leave out --watch/);
  });
});

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
    // A replica whose first sync failed is listed all the same: status and doctor say no sync succeeded yet.
    expect(await listReplicas(join(root, 'archiver home'), 'local')).toEqual([join(root, 'replica')]);
    // --json still prints the run's report, failed as a whole, for a script reading stdout.
    const json = await cli(['sync', join(root, 'replica'), '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: false,
      dir: join(root, 'replica'),
      error: expect.stringMatching(/S3 server at http:\/\/127\.0\.0\.1:9 is not answering/),
    });
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

  it.skipIf(READ_ONLY_MOUNT !== undefined)(
    'a replica directory on a read-only file system: named, in plain words, exit 1, no stack',
    async () => {
      const disk = join(root, 'read-only');
      mkdirSync(disk);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', disk], { stdio: 'pipe' });
      try {
        const run = await cli(['sync', disk]);
        expect(run.code).toBe(1);
        expect(run.stderr).toMatch(
          new RegExp(
            `cannot write the replica at ${disk}( \\([^)]*\\))?: its file system is mounted read-only`,
          ),
        );
        expect(run.stderr).not.toMatch(/EROFS|\n\s+at /);
      } finally {
        execFileSync('umount', ['-l', disk]);
      }
    },
    60_000,
  );

  it('--watch whose replica vanished since its last run says so and does not start a new replica in its place', async () => {
    const replica = join(root, 'replica');
    const watch = spawnCli(['sync', replica, '--watch', '1s'], cliOptions());
    try {
      await watch.until(/^synced /m);
      rmSync(replica, { recursive: true, force: true });
      await watch.until(/is gone since the last run \(moved or removed, or its disk unmounted\)/);
      expect(existsSync(replica)).toBe(false);
      expect(watch.output()).not.toMatch(/\n\s+at /);
    } finally {
      watch.child.kill('SIGTERM');
      await watch.exited;
    }
  }, 120_000);

  it('--repair checks once: refused with --watch and with --install-timer', async () => {
    const replica = join(root, 'replica');
    const watch = await cli(['sync', replica, '--repair', '--watch', '1m']);
    expect(watch.code).toBe(2);
    expect(watch.stderr).toMatch(/--repair checks the replica once: leave out --watch/);
    const timer = await cli(['sync', replica, '--repair', '--install-timer']);
    expect(timer.code).toBe(2);
    expect(timer.stderr).toMatch(/leave out --install-timer/);
    const accept = await cli(['sync', replica, '--accept-unparsed', '--watch', '1m']);
    expect(accept.code).toBe(2);
    expect(accept.stderr).toMatch(/--accept-unparsed is a decision made once: leave out --watch/);
    expect(existsSync(replica)).toBe(false);
  });
});
