// Running the CLI as a user does (`node cli/bin.js ...`) from the end-to-end tests: its own data directory,
// CI=true (no progress bar, no prompts), and the exit code in the result instead of a thrown error.
import { execFile } from 'node:child_process';
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
