// What every command shares as a process: the global output options, --version, exit codes for a wrong command
// line (2), errors printed as one plain line, a quiet exit on EPIPE, Ctrl-C and SIGTERM handled, the notice
// about an archive at the old place. cli/main.ts registers the commands; this runs them.
import { readFileSync } from 'node:fs';
import { type Command, CommanderError, Option } from 'commander';
import { resolveDataHome } from './local/data-home';
import { refuseBlankValues } from './process/blank-values';
import { completionScript } from './process/completion';
import { installInterruptHandlers, interruptExitCode, runCleanups } from './process/interrupt';
import { ExitCode, exitQuietlyOnEpipe, Output, type OutputOptions } from './process/output';

let current = new Output();

/** The output of the running command, configured from the global options once they are parsed. */
export function out(): Output {
  return current;
}

/** The package's version (package.json beside cli/). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/**
 * Adds the global options and behaviour to `program`. Call before registering commands: commander copies
 * `exitOverride` and the output configuration into each command as it is created.
 */
export function configureProgram(program: Command): Command {
  return program
    .version(packageVersion(), '-V, --version', 'print the version')
    .addOption(new Option('--json', 'machine-readable output (JSON, or JSON lines for listings) on stdout'))
    .addOption(new Option('-q, --quiet', 'only results and errors').conflicts('verbose'))
    .addOption(new Option('-v, --verbose', 'also what happens on the way, and stack traces'))
    .exitOverride()
    .hook('preAction', (_program, action) => {
      current = new Output(action.optsWithGlobals<OutputOptions>());
      refuseBlankValues(action);
      if (action.name() === 'completion') return;
      const notice = resolveDataHome().notice;
      if (notice) current.warn(notice);
    });
}

/** `completion bash|zsh`: registered last, so the script knows every command. */
export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('print the shell completion script: source <(mail-archiver completion bash)')
    .argument('<shell>', 'bash or zsh')
    .action((shell: string) => {
      if (shell !== 'bash' && shell !== 'zsh')
        throw new CommanderError(ExitCode.usage, 'commander.invalidArgument', `unsupported shell ${shell}`);
      process.stdout.write(completionScript(program, shell));
    });
}

const HELP_CODES = new Set(['commander.helpDisplayed', 'commander.help', 'commander.version']);

/**
 * Runs the program and sets the exit code: 0, 1 (failed), 2 (wrong command line, no command included: the usage
 * on stderr), 130/143 (interrupted).
 */
export async function runProgram(program: Command, argv: string[]): Promise<void> {
  exitQuietlyOnEpipe(process.stdout, runCleanups);
  installInterruptHandlers();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander printed the message (and the help) already. The help it prints for no command at all (to
      // stderr, exit code 1) is a wrong command line, as for an unknown command; asked for, it is an answer.
      process.exitCode = HELP_CODES.has(error.code) && error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
      if (error.code === 'commander.invalidArgument' && !error.message.startsWith('error:'))
        process.stderr.write(`mail-archiver: ${error.message}\n`);
      return;
    }
    const interrupted = interruptExitCode();
    if (interrupted !== undefined) {
      process.exitCode = interrupted;
      return;
    }
    process.exitCode = current.error(error);
  } finally {
    await runCleanups();
    const interrupted = interruptExitCode();
    if (interrupted !== undefined && !process.exitCode) process.exitCode = interrupted;
  }
}
