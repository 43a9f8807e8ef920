// The list of commands the root help prints (`--help`, `help`, no command, an unknown command), described without
// loading any command's module: each one pulls in what its command needs (the AWS SDK, the MIME stack, the IMAP
// client), so a help that registered every command loaded the whole CLI. The build (scripts/build-cli.mjs)
// writes the list beside the compiled CLI from the whole program, so it is the commands' own declarations and
// cannot drift from them; the sources (tsx, development) have no such file and register every command instead.
import { readFileSync } from 'node:fs';
import { type Command, Help } from 'commander';

/** One command as the root help shows it: its line's term (name, alias, `[options]`, arguments) and summary. */
export interface CommandListEntry {
  name: string;
  aliases: string[];
  /** As commander's help writes it, e.g. `import|ingest [options] <paths...>`. */
  term: string;
  description: string;
}

/** Every command of `program` as its root help describes it, in the help's order. */
export function describeCommands(program: Command): CommandListEntry[] {
  const help = program.createHelp();
  return program.commands.map((command) => ({
    name: command.name(),
    aliases: command.aliases(),
    term: help.subcommandTerm(command),
    description: help.subcommandDescription(command),
  }));
}

/**
 * `program` with a stand-in for each command of `entries`: a name, its aliases and its summary, no options and
 * no action, with the help writing each one's stored term. Enough for the root help and for an unknown command
 * (commander suggests the nearest name), never for running a command: the caller loads the real one for that.
 */
export function addDescribedCommands(program: Command, entries: readonly CommandListEntry[]): Command {
  const terms = new Map<Command, string>();
  for (const entry of entries)
    terms.set(program.command(entry.name).aliases(entry.aliases).description(entry.description), entry.term);
  const standard = new Help();
  return program.configureHelp({
    subcommandTerm: (command) => terms.get(command) ?? standard.subcommandTerm(command),
  });
}

/** The command list written beside the build at `url`, or undefined when there is none (running the sources). */
export function readCommandList(url: URL): CommandListEntry[] | undefined {
  let text: string;
  try {
    text = readFileSync(url, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return JSON.parse(text) as CommandListEntry[];
}
