// Running the CLI as a user does (`node cli/bin.js ...`) from the end-to-end tests: its own data directory,
// CI=true (no progress bar, no prompts), and the exit code in the result instead of a thrown error.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CLI_BIN = join(ROOT, 'cli/bin.js');

export interface CliRun {
  stdout: string;
  stderr: string;
  /** The exit code; null when a signal ended it. */
  code: number | null;
}

/**
 * Runs `mail-archiver args...` over the data directory `home`, in `cwd` (default: the repository), with `env`
 * added to this process's environment; under `wrapper` (a command and its arguments, e.g. strace) when given.
 * Never rejects: a failed command is a non-zero `code`.
 */
export function runCli(
  args: string[],
  options: { home: string; env?: NodeJS.ProcessEnv; cwd?: string; wrapper?: string[] },
): Promise<CliRun> {
  const [command, ...commandArgs] = [...(options.wrapper ?? []), 'node', CLI_BIN, ...args];
  return new Promise((done) => {
    execFile(
      command ?? 'node',
      commandArgs,
      {
        cwd: options.cwd ?? ROOT,
        env: { ...process.env, MAIL_ARCHIVER_HOME: options.home, CI: 'true', ...options.env },
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) =>
        done({ stdout, stderr, code: error ? ((error as { code?: number }).code ?? null) : 0 }),
    );
  });
}

/** A CLI process started by spawnCli, still running or not. */
export interface RunningCli {
  child: ChildProcess;
  /** Its stdout and stderr so far, interleaved as they came. */
  output(): string;
  stdout(): string;
  /** Its exit code; -1 when a signal ended it. */
  exited: Promise<number | null>;
  /** Resolves once `pattern` matches the output; rejects if the process exits first. */
  until(pattern: RegExp): Promise<void>;
}

/** Starts `mail-archiver args...` as runCli does, without waiting for it: for servers, interruptions and kills. */
export function spawnCli(
  args: string[],
  options: { home: string; env?: NodeJS.ProcessEnv; cwd?: string },
): RunningCli {
  const child = spawn('node', [CLI_BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, MAIL_ARCHIVER_HOME: options.home, CI: 'true', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let stdout = '';
  const waiters = new Set<() => void>();
  const exited = new Promise<number | null>((done) =>
    child.once('exit', (code, signal) => done(code ?? (signal ? -1 : null))),
  );
  child.stdout?.on('data', (d: Buffer) => {
    output += d;
    stdout += d;
    for (const check of waiters) check();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d;
    for (const check of waiters) check();
  });
  const until = (pattern: RegExp) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!pattern.test(output)) return;
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
      check();
      void exited.then(() => {
        if (!waiters.has(check)) return;
        waiters.delete(check);
        reject(new Error(`exited before ${pattern}: ${output}`));
      });
    });
  return { child, output: () => output, stdout: () => stdout, exited, until };
}
