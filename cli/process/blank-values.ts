// The program's check of every command's option values (cli/program.ts preAction), in a module of its own: the
// program loads it for every command, `--version` and `--help` included, so it imports nothing that loads more.
import type { Command } from 'commander';
import { ExitCode, UserError } from './output';

/**
 * Every option of `command` given a value on the command line must be given a non-blank one: `--from ''` (a
 * script's unset variable) would otherwise filter on nothing and answer with everything. Repeatable options are
 * checked one value at a time. Throws UserError (exit 2) naming the option.
 */
export function refuseBlankValues(command: Command): void {
  for (const option of command.options) {
    const key = option.attributeName();
    if (command.getOptionValueSource(key) !== 'cli') continue;
    const value: unknown = command.getOptionValue(key);
    const values = Array.isArray(value) ? value : [value];
    if (values.some((v) => typeof v === 'string' && v.trim() === ''))
      throw new UserError(`${option.long ?? option.flags} needs a value`, { exitCode: ExitCode.usage });
  }
}
