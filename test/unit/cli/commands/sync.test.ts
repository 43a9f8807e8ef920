// `sync` as a new user runs it: mistakes in what was asked are refused before anything is started or written,
// in one line naming what and where (the CLI run as a process, with a home and a replica of its own).
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../../../support/cli';

const ROOT = resolve(import.meta.dirname, '../../../..');
let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'mail-archiver-sync-cli-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** The CLI as a process, with this test's own home, data directory and replica (test/support/cli.ts). */
const cli = (args: string[]) =>
  runCli(args, {
    home: join(root, 'archiver home'),
    cwd: root,
    env: {
      HOME: join(root, 'user home'),
      MAIL_ARCHIVER_CONFIG: join(ROOT, 'mail-archiver.config.json'),
      NO_COLOR: '1',
    },
  });

describe('sync, refused before it starts', () => {
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
