// `sync --install-timer`: the command run as a process writes a systemd user timer into a temporary HOME, which
// systemd's own `systemd-analyze verify` accepts (skipped, named, where it is not installed); the launchd agent's
// plist is read back by Python's plistlib (an independent reader of Apple's format; no plutil off macOS).
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { timerFiles } from '../../../../cli/process/timer';

const ROOT = resolve(import.meta.dirname, '../../../..');
const BIN = join(ROOT, 'cli/bin.js');
let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'mail-archiver-timer-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const cli = (args: string[], extraEnv: Record<string, string | undefined> = {}) =>
  new Promise<{ stdout: string; stderr: string; code: number }>((done) =>
    execFile(
      'node',
      [BIN, ...args],
      {
        cwd: root,
        env: {
          ...process.env,
          HOME: join(root, 'user home'),
          MAIL_ARCHIVER_HOME: join(root, 'archiver home'),
          MAIL_ARCHIVER_CONFIG: join(ROOT, 'mail-archiver.config.json'),
          CI: 'true',
          NO_COLOR: '1',
          // A user manager's private socket, as a login session has it (the test after this one has none).
          XDG_RUNTIME_DIR: runtimeDir(),
          ...extraEnv,
        },
      },
      (error, stdout, stderr) => done({ stdout, stderr, code: error ? Number(error.code ?? 1) : 0 }),
    ),
  );

/** A runtime directory like a login session's: `systemd/private` is where `systemctl --user` connects. */
function runtimeDir(): string {
  const dir = join(root, 'run user');
  mkdirSync(join(dir, 'systemd'), { recursive: true });
  writeFileSync(join(dir, 'systemd', 'private'), '');
  return dir;
}

const hasSystemdAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

describe('sync --install-timer (systemd, Linux)', () => {
  it.runIf(process.platform === 'linux')(
    'writes a user service and timer that run one sync of the replica, and prints how to enable and remove them',
    async () => {
      const replica = join(root, 'my replica');
      const run = await cli([
        'sync',
        replica,
        '--install-timer',
        '--every',
        '20m',
        '--mailbox',
        'Alice@Example.com',
      ]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const unitDir = join(root, 'user home', '.config', 'systemd', 'user');
      const names = readdirSync(unitDir).sort();
      expect(names).toHaveLength(2);
      const [service, timer] = names.map((n) => readFileSync(join(unitDir, n), 'utf8'));
      expect(names[0]).toMatch(/^mail-archiver-sync-[0-9a-f]{8}\.service$/);
      expect(service).toContain('Type=oneshot');
      expect(service).toContain(`Environment="MAIL_ARCHIVER_HOME=${join(root, 'archiver home')}"`);
      expect(service).toContain(
        `Environment=MAIL_ARCHIVER_CONFIG=${join(ROOT, 'mail-archiver.config.json')}`,
      );
      expect(service).toMatch(
        new RegExp(
          `ExecStart=/\\S+/node \\S*bin\\.js sync "${replica}" --once --mailbox alice@example\\.com\\n`,
        ),
      );
      expect(timer).toContain('OnUnitActiveSec=1200s');
      const unit = names[1]?.replace(/\.timer$/, '');
      expect(run.stdout).toContain(`systemctl --user enable --now ${unit}.timer`);
      expect(run.stdout).toContain(`systemctl --user disable --now ${unit}.timer`);
      // Installing again for the same replica rewrites the same two files (no second timer).
      const again = await cli(['sync', replica, '--install-timer']);
      expect(again.code).toBe(0);
      expect(readdirSync(unitDir).sort()).toEqual(names);
      expect(readFileSync(join(unitDir, names[1] as string), 'utf8')).toContain('OnUnitActiveSec=900s');
      // doctor watches it from now on (no sync has run yet).
      const doctor = await cli(['--json', 'doctor']);
      expect(JSON.parse(doctor.stdout).checks).toContainEqual(
        expect.objectContaining({ name: `sync replica ${replica}`, status: 'warn' }),
      );
      if (!hasSystemdAnalyze) {
        console.warn('SKIPPED: systemd-analyze verify (install the Debian package systemd)');
        return;
      }
      const runtime = join(root, 'runtime');
      mkdirSync(runtime, { mode: 0o700 });
      const verify = spawnSync(
        'systemd-analyze',
        ['verify', '--user', ...names.map((n) => join(unitDir, n))],
        {
          encoding: 'utf8',
          env: { ...process.env, XDG_RUNTIME_DIR: runtime },
        },
      );
      expect(verify.stderr).toBe('');
      expect(verify.status).toBe(0);
    },
    60_000,
  );

  it.runIf(process.platform === 'linux')(
    'says plainly when no systemd user session is reachable, and what runs the sync instead',
    async () => {
      for (const env of [{ XDG_RUNTIME_DIR: undefined }, { XDG_RUNTIME_DIR: join(root, 'no session') }]) {
        const run = await cli(['sync', join(root, 'my replica'), '--install-timer'], env);
        expect(run.code).toBe(0);
        // The files are written all the same (a login later, or another user's session, turns them on).
        expect(readdirSync(join(root, 'user home', '.config', 'systemd', 'user'))).toHaveLength(2);
        expect(run.stderr).toMatch(/no systemd user session is reachable from here/);
        expect(run.stderr).toMatch(/the systemctl --user commands above fail here/);
        // The alternative: the same command from cron, with its environment.
        expect(run.stderr).toMatch(/\*\/15 \* \* \* \* 'MAIL_ARCHIVER_HOME=.* sync '.*my replica' --once/);
      }
    },
  );

  it('refuses a directory that is not a replica, and --every without --install-timer', async () => {
    const other = join(root, 'photos');
    mkdirSync(other);
    writeFileSync(join(other, 'a.jpg'), 'x');
    const refused = await cli(['sync', other, '--install-timer']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/is not a replica/);
    const usage = await cli(['sync', join(root, 'r'), '--every', '5m']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--every goes with --install-timer/);
  }, 60_000);
});

describe('the launchd agent (macOS)', () => {
  it('is a plist that runs the same command every interval, with the environment, at load too', () => {
    const { files, enable, remove, name } = timerFiles('launchd', {
      dir: '/Users/me/mail & more',
      command: [
        '/usr/local/bin/node',
        '/opt/mail-archiver/cli/bin.js',
        'sync',
        '/Users/me/mail & more',
        '--once',
      ],
      env: { MAIL_ARCHIVER_HOME: '/Users/me/Library/Application Support/mail-archiver' },
      everyMs: 15 * 60_000,
      userHome: '/Users/me',
    });
    expect(files).toHaveLength(1);
    const [file] = files;
    expect(file?.path).toBe(`/Users/me/Library/LaunchAgents/${name}.plist`);
    const read = spawnSync(
      'python3',
      ['-c', 'import json, plistlib, sys; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))'],
      { input: file?.content, encoding: 'utf8' },
    );
    if (read.error) {
      console.warn('SKIPPED: reading the plist back (install the Debian package python3)');
      return;
    }
    expect(read.stderr).toBe('');
    expect(JSON.parse(read.stdout)).toEqual({
      Label: name,
      ProgramArguments: [
        '/usr/local/bin/node',
        '/opt/mail-archiver/cli/bin.js',
        'sync',
        '/Users/me/mail & more',
        '--once',
      ],
      EnvironmentVariables: { MAIL_ARCHIVER_HOME: '/Users/me/Library/Application Support/mail-archiver' },
      StartInterval: 900,
      RunAtLoad: true,
      StandardOutPath: `/Users/me/Library/Logs/${name}.log`,
      StandardErrorPath: `/Users/me/Library/Logs/${name}.log`,
    });
    expect(enable).toEqual([`launchctl bootstrap gui/$(id -u) ${file?.path}`]);
    expect(remove[0]).toBe(`launchctl bootout gui/$(id -u) ${file?.path}`);
  });
});
