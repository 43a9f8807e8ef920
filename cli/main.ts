// `mail-archiver`: assembles the commands (one module each under cli/commands/) into one commander program.
// The commands are thin over shared/ and the local or deployed archive (cli/context.ts).
//
// A command's module is loaded only when that command runs (or its help is asked for): `list` never loads the
// IMAP client, `--version` loads no command at all (the compiled CLI answers in the time node itself takes to
// start; docs/benchmarks.md). The root help and an unknown command describe every command from the list the build
// wrote beside the compiled CLI (cli/process/command-list.ts); the whole program (every command) is built for
// completion, and for the help when running the sources.
import { realpathSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command, Option } from 'commander';
import { shellLine } from '../shared/shell-word';
import type { CliContext } from './context';
import {
  addDescribedCommands,
  type CommandListEntry,
  describeCommands,
  readCommandList,
} from './process/command-list';
import { configureProgram, registerCompletion, runProgram } from './program';

type Register = (program: Command, ctx: CliContext) => void;

/** Every command, in the order of the help: its names and how to load the module that registers it. */
export const COMMANDS: readonly { names: readonly string[]; load: () => Promise<Register> }[] = [
  { names: ['start'], load: async () => (await import('./commands/start')).registerStart },
  {
    names: ['send-test'],
    load: async () => (await import('./commands/send-test')).registerSendTest,
  },
  { names: ['import', 'ingest'], load: async () => (await import('./commands/import')).registerImport },
  { names: ['list'], load: async () => (await import('./commands/list')).registerList },
  { names: ['search'], load: async () => (await import('./commands/search')).registerSearch },
  { names: ['status'], load: async () => (await import('./commands/status')).registerStatus },
  { names: ['export'], load: async () => (await import('./commands/export')).registerExport },
  { names: ['sync'], load: async () => (await import('./commands/sync')).registerSync },
  {
    names: ['verify'],
    load: async () => {
      const { registerVerify } = await import('./commands/verify');
      return (program) => registerVerify(program);
    },
  },
  { names: ['seal'], load: async () => (await import('./commands/seal')).registerSeal },
  {
    names: ['serve'],
    load: async () => {
      const { registerServe } = await import('./commands/serve');
      return (program) => registerServe(program);
    },
  },
  { names: ['forwards'], load: async () => (await import('./commands/forwards')).registerForwards },
  { names: ['redrive'], load: async () => (await import('./commands/redrive')).registerRedrive },
  { names: ['reconcile'], load: async () => (await import('./commands/reconcile')).registerReconcile },
  { names: ['hold'], load: async () => (await import('./commands/hold')).registerHold },
  { names: ['replica'], load: async () => (await import('./commands/replica')).registerReplica },
  { names: ['reindex'], load: async () => (await import('./commands/reindex')).registerReindex },
  {
    names: ['restore'],
    load: async () => {
      const { registerRestore } = await import('./commands/restore');
      return (program) => registerRestore(program);
    },
  },
  {
    names: ['keygen'],
    load: async () => {
      const { registerKeygen } = await import('./commands/keygen');
      return (program) => registerKeygen(program);
    },
  },
  {
    names: ['gmail-auth', 'collect-sent'],
    load: async () => (await import('./commands/gmail')).registerGmailCommands,
  },
  { names: ['doctor'], load: async () => (await import('./commands/doctor')).registerDoctor },
];

/** The program with its global options and no command yet. */
function baseProgram(): Command {
  const program = new Command('mail-archiver');
  configureProgram(program)
    .description(
      'Archive every message of your domain byte for byte; restore it as an IMAP-servable maildir.',
    )
    .addOption(
      new Option(
        '-c, --config <file>',
        'config file (default: $MAIL_ARCHIVER_CONFIG, ./mail-archiver.config.json, or mail-archiver.config.json in the data directory)',
      ),
    )
    .addOption(
      new Option('-t, --target <target>', 'where the archive is').choices(['local', 'aws']).default('local'),
    )
    // The error's line (and commander's "Did you mean") stays on screen: the whole help would scroll it away.
    .showHelpAfterError('run `mail-archiver help <command>` for its options')
    .configureOutput({ outputError: (text, write) => write(text) });
  return program;
}

/** `program` with the commands `loaded` registered on it, sharing one context (loaded with the first command). */
async function withCommands(program: Command, loaded: Promise<Register>[]): Promise<Command> {
  const { createContext } = await import('./context');
  const ctx = createContext(program);
  for (const register of await Promise.all(loaded)) register(program, ctx);
  return program;
}

/** The whole command line, every command registered and nothing run (the docs generator reads it too). */
export async function buildProgram(): Promise<Command> {
  const program = await withCommands(
    baseProgram(),
    COMMANDS.map((command) => command.load()),
  );
  registerCompletion(program);
  return program;
}

/** Every command as the root help describes it: what the build writes beside the compiled CLI. */
export async function commandList(): Promise<CommandListEntry[]> {
  return describeCommands(await buildProgram());
}

/** The program whose commands are the stand-ins of `entries` (cli/process/command-list.ts): the root help's. */
export function describedProgram(entries: readonly CommandListEntry[]): Command {
  return addDescribedCommands(baseProgram(), entries);
}

/** Where the build writes the command list: beside the compiled CLI (dist/), so never beside the sources. */
const COMMAND_LIST = new URL('./command-list.json', import.meta.url);

/** Global options that take a value (the word after them is not the command's name). */
const GLOBAL_OPTIONS_WITH_VALUE = new Set(['-c', '--config', '-t', '--target']);

/**
 * What the command line asks for before any command is loaded: the command's name (the first word that is
 * neither an option nor a global option's value), or `version` when --version comes before any command; for
 * `help <command>`, the command the help is asked about as `topic`.
 */
export function requestedCommand(args: readonly string[]): {
  command?: string;
  version: boolean;
  topic?: string;
} {
  const { at, version } = commandWord(args);
  if (version) return { version: true };
  if (at === undefined) return { version: false };
  const command = args[at];
  const topic = command === 'help' ? args.slice(at + 1).find((word) => !word.startsWith('-')) : undefined;
  return { command, version: false, ...(topic !== undefined ? { topic } : {}) };
}

/** Where the command's name is in `args` (see {@link requestedCommand}), or that --version comes first. */
function commandWord(args: readonly string[]): { at?: number; version: boolean } {
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] ?? '';
    if (arg === '--') return { ...(i + 1 < args.length ? { at: i + 1 } : {}), version: false };
    if (arg === '-V' || arg === '--version') return { version: true };
    if (GLOBAL_OPTIONS_WITH_VALUE.has(arg)) {
      i += 1;
      continue;
    }
    if (arg.startsWith('-')) continue;
    return { at: i, version: false };
  }
  return { version: false };
}

/**
 * `args` as they run: `help <word>` for a word that is no command becomes `<word>`, so it is the unknown command
 * it names (one line with the nearest command's name, exit 2), where commander would print the root help and
 * exit 0, as if nothing were wrong. Any other command line is returned as it is.
 */
export function commandLine(args: readonly string[]): readonly string[] {
  const { topic } = requestedCommand(args);
  const { at } = commandWord(args);
  const known = (word: string) =>
    COMMANDS.some((c) => c.names.includes(word)) || word === 'completion' || word === 'help';
  if (topic === undefined || at === undefined || known(topic)) return args;
  return [...args.slice(0, at), ...args.slice(at + 1)];
}

/**
 * The program for `args` (argv without node and the script): only the named command when it is one of ours
 * (also for `help <command>`), no command for --version, every command for completion, else the described
 * commands (the root help, an unknown command and its suggestion; every command when running the sources).
 */
export async function programFor(args: readonly string[]): Promise<Command> {
  const { command, version, topic } = requestedCommand(args);
  if (version) return baseProgram();
  const named = topic ?? command;
  const entry = named === undefined ? undefined : COMMANDS.find((c) => c.names.includes(named));
  if (entry) return withCommands(baseProgram(), [entry.load()]);
  if (named === 'completion') return buildProgram();
  const described = readCommandList(COMMAND_LIST);
  return described ? describedProgram(described) : buildProgram();
}

/** Runs the CLI; sets process.exitCode (see cli/process/output.ts ExitCode). */
export async function main(argv: string[]): Promise<void> {
  const args = commandLine(argv.slice(2));
  await runProgram(await programFor(args), [...argv.slice(0, 2), ...args]);
}

/** Whether this module is the script node was started with (`node dist/cli.js`), not loaded by cli/bin.js. */
function runDirectly(): boolean {
  try {
    return (
      process.argv[1] !== undefined && pathToFileURL(realpathSync(process.argv[1])).href === import.meta.url
    );
  } catch {
    return false;
  }
}

// The build run as a script would do nothing (cli/bin.js loads it and calls main, after setting what every run
// needs: the compile cache, the heap's growth, the thread pool), so it names the command to run instead.
if (runDirectly()) {
  // Absolute, so the line works from any directory: bin.js is cli/bin.js beside this module's folder, whether this
  // is dist/cli.js or cli/main.ts; each word quoted as a POSIX shell reads it back.
  const bin = fileURLToPath(new URL('../cli/bin.js', import.meta.url));
  const line = shellLine(['node', bin, ...process.argv.slice(2)]);
  process.stderr.write(
    `mail-archiver: dist/cli.js is the build cli/bin.js loads: run \`${line}\` (the package's bin, mail-archiver)\n`,
  );
  process.exitCode = 2;
}
