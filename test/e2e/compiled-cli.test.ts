// The CLI as `npm ci` leaves it: cli/bin.js runs the esbuild bundle in dist/ (scripts/build-cli.mjs), not the
// TypeScript sources. Every other test that spawns cli/bin.js runs it too (scripts/test.sh builds before the
// tests); this one proves the bin chose the build, and that a command finding no running stack starts the
// services itself and says so in one line.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'cli/bin.js');
let home: string;

function cli(
  args: string[],
  nodeOptions: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [...nodeOptions, BIN, ...args],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          ...env,
          MAIL_ARCHIVER_HOME: home,
          MAIL_ARCHIVER_CONFIG: join(ROOT, 'mail-archiver.config.json'),
          MAIL_ARCHIVER_TRACE_STARTUP: '1',
          NO_COLOR: '1',
        },
      },
      (error, stdout, stderr) =>
        done({ stdout, stderr, code: error ? Number((error as { code?: number }).code ?? 1) : 0 }),
    );
  });
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'mail-archiver-compiled-'));
  // npm test builds first; a single file run after an edit builds here (the bin would run the sources).
  if (!(await cli(['--version'])).stderr.includes('running dist/cli.js')) {
    await new Promise<void>((done, fail) =>
      execFile(process.execPath, [join(ROOT, 'scripts/build-cli.mjs')], { cwd: ROOT }, (error) =>
        error ? fail(error) : done(),
      ),
    );
  }
});

afterAll(() => rmSync(home, { recursive: true, force: true }));

/** The files of dist/ that `mail-archiver args...` loads (test/support/trace-loaded.mjs), sorted. */
async function distFilesLoaded(args: string[]): Promise<string[]> {
  const trace = join(home, `loaded-${args.join('-')}.txt`);
  writeFileSync(trace, '');
  const run = await cli(args, ['--import', join(ROOT, 'test/support/trace-loaded.mjs')], {
    TRACE_LOADED_MODULES: trace,
  });
  expect(run.stderr).toContain('running dist/cli.js');
  const dist = `${new URL('dist/', `file://${ROOT}/`).href}`;
  return readFileSync(trace, 'utf8')
    .split('\n')
    .filter((url) => url.startsWith(dist))
    .map((url) => url.slice(dist.length))
    .sort();
}

describe('the compiled CLI', () => {
  it('answers --version from dist/ with the package version, nothing else on stderr', async () => {
    const run = await cli(['--version']);
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${version}\n`);
    expect(run.stderr).toBe('mail-archiver: running dist/cli.js\n');
  });

  it('runs a command that needs the archive: services started for it, said in one line on stderr', async () => {
    const run = await cli(['list', 'alice@example.com', '--limit', '50']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe('no messages in alice@example.com match\n');
    const lines = run.stderr.split('\n').filter(Boolean);
    expect(lines[0]).toBe('mail-archiver: running dist/cli.js');
    expect(lines.slice(1)).toHaveLength(1);
    expect(lines[1]).toMatch(
      /^mail-archiver: no local stack running: started DynamoDB Local and S3 for this command in \d+\.\d s \(npm start in another terminal makes every command fast\)$/,
    );
  });

  it('describes every command for the help without loading one; help <command> loads that command only', async () => {
    const version = await distFilesLoaded(['--version']);
    expect(version.length).toBeGreaterThan(0);
    // The program and commander only: a module the program imports for every command loads with --version too
    // (the blank-value check once brought the config's modules in: 11 files and 1 MB, --version 0.1 s slower).
    const versionBytes = version.reduce((sum, file) => sum + statSync(join(ROOT, 'dist', file)).size, 0);
    expect(versionBytes).toBeLessThan(300_000);
    // The root help, `help` and no command load what --version loads: no command's module.
    expect(await distFilesLoaded(['--help'])).toEqual(version);
    expect(await distFilesLoaded(['help'])).toEqual(version);
    expect(await distFilesLoaded([])).toEqual(version);
    // `help list` is `list --help`: the list command's module and what it imports, a small part of every command.
    const list = await distFilesLoaded(['list', '--help']);
    expect(await distFilesLoaded(['help', 'list'])).toEqual(list);
    const every = await distFilesLoaded(['completion', 'bash']);
    expect(list.length * 4).toBeLessThan(every.length);
  });

  it('answers no command with the usage on stderr and exit 2, as it answers an unknown one', async () => {
    for (const args of [[], ['--json'], ['-t', 'local']]) {
      const run = await cli(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/^Usage: mail-archiver \[options\] \[command\]$/m);
      expect(run.stderr).toMatch(/^ {2}list \[options\] <mailbox>/m);
    }
    const unknown = await cli(['bogus']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("error: unknown command 'bogus'");
  });

  it('run as `node dist/cli.js`, says which file is the command instead of doing nothing: a line to paste anywhere', async () => {
    // From another directory, with arguments a shell must quote: the line names bin.js by its absolute path and
    // quotes each argument, so pasted into a POSIX shell it runs this command.
    const args = ['search', '--subject', 'hello world', "it's", 'a.txt'];
    const run = await new Promise<{ stderr: string; code: number }>((done) =>
      execFile(
        process.execPath,
        [join(ROOT, 'dist/cli.js'), ...args],
        { cwd: tmpdir() },
        (error, _stdout, stderr) =>
          done({ stderr, code: error ? Number((error as { code?: number }).code ?? 1) : 0 }),
      ),
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      `mail-archiver: dist/cli.js is the build cli/bin.js loads: run \`node ${BIN} search --subject 'hello world' 'it'\\''s' a.txt\` (the package's bin, mail-archiver)\n`,
    );
    // What the shell reads back from the line is the command line given.
    const line = run.stderr.match(/`(.*)`/)?.[1] ?? '';
    const words = execFileSync('sh', ['-c', `printf '%s\\n' ${line}`], { encoding: 'utf8' });
    expect(words.split('\n').slice(0, -1)).toEqual(['node', BIN, ...args]);
  });

  it('answers help with a word that is no command as that unknown command: the nearest name, exit 2', async () => {
    const typo = await cli(['help', 'lsit']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("error: unknown command 'lsit'\n(Did you mean list?)");
    expect(typo).toEqual(await cli(['lsit']));
    // Still from the command list: no command's module loaded.
    expect(await distFilesLoaded(['help', 'lsit'])).toEqual(await distFilesLoaded(['--version']));
    const help = await cli(['help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^ {2}list\b/m);
  });

  it('the help names every command, from dist/', async () => {
    const run = await cli(['--help']);
    expect(run.code).toBe(0);
    for (const command of ['list', 'search', 'status', 'export', 'serve', 'restore', 'doctor'])
      expect(run.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
  });
});
