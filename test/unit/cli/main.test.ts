// The CLI loads only the command it runs (cli/main.ts): which word names the command, and the table of lazily
// loaded commands against the program that registers every one of them.

import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import {
  buildProgram,
  COMMANDS,
  commandLine,
  commandList,
  describedProgram,
  programFor,
  requestedCommand,
} from '../../../cli/main';

describe('which command a command line asks for', () => {
  it('is the first word that is neither an option nor the value of --config or --target', () => {
    expect(requestedCommand(['list', 'alice@example.com'])).toEqual({ command: 'list', version: false });
    expect(requestedCommand(['-c', 'list', 'search'])).toEqual({ command: 'search', version: false });
    expect(requestedCommand(['--target', 'aws', '--json', 'status'])).toEqual({
      command: 'status',
      version: false,
    });
    expect(requestedCommand(['--config=x.json', '-v', 'status'])).toEqual({
      command: 'status',
      version: false,
    });
    expect(requestedCommand([])).toEqual({ version: false });
    expect(requestedCommand(['--help'])).toEqual({ version: false });
  });

  it('is --version only when --version comes before any command', () => {
    expect(requestedCommand(['--version'])).toEqual({ version: true });
    expect(requestedCommand(['-t', 'local', '-V'])).toEqual({ version: true });
    expect(requestedCommand(['list', '--version'])).toEqual({ command: 'list', version: false });
  });

  it('names the command `help <command>` asks about as the topic', () => {
    expect(requestedCommand(['help', 'list'])).toEqual({ command: 'help', version: false, topic: 'list' });
    expect(requestedCommand(['-c', 'help', 'help', '-v', 'ingest'])).toEqual({
      command: 'help',
      version: false,
      topic: 'ingest',
    });
    expect(requestedCommand(['help'])).toEqual({ command: 'help', version: false });
  });
});

describe('help with a word that is no command', () => {
  it('runs as that unknown command; help alone, help <command> and every other line run as they are', async () => {
    expect(commandLine(['help', 'lsit'])).toEqual(['lsit']);
    expect(commandLine(['--json', 'help', '-v', 'lsit', 'x'])).toEqual(['--json', '-v', 'lsit', 'x']);
    for (const args of [
      ['help'],
      ['help', 'list'],
      ['help', 'ingest'],
      ['help', 'completion'],
      ['list', 'help'],
    ])
      expect(commandLine(args)).toEqual(args);
    const described = describedProgram(await commandList());
    const typo = await output(described, [...commandLine(['help', 'lsit'])]);
    expect(typo.text).toMatch(/^error: unknown command 'lsit'\n\(Did you mean list\?\)\n/);
    expect(typo.code).not.toBe(0);
  });
});

describe('a command line commander cannot parse', () => {
  it('prints its one line and where the options are, not the whole help that would scroll it away', async () => {
    const hint = 'run `mail-archiver help <command>` for its options\n';
    const program = await programFor(['list', 'a@example.com', '--bogus']);
    const list = program.commands[0];
    if (list === undefined) throw new Error('programFor registered no list command');
    const run = await output(program, ['list', 'a@example.com', '--bogus'], list);
    expect(run.text).toBe(`error: unknown option '--bogus'\n${hint}`);
    const typo = await output(describedProgram(await commandList()), ['lsit']);
    expect(typo.text).toBe(`error: unknown command 'lsit'\n(Did you mean list?)\n${hint}`);
  });
});

describe('the lazily loaded commands', () => {
  it('name every command and alias the whole program registers, in the order of its help', async () => {
    const program = await buildProgram();
    const registered = program.commands
      .filter((c) => c.name() !== 'completion')
      .map((c) => [c.name(), ...c.aliases()]);
    expect(COMMANDS.flatMap((c) => c.names)).toEqual(registered.flat());
  });

  it('build a program holding only the command asked for, also for help <command>; from the sources, the help and an unknown word get all', async () => {
    expect((await programFor(['list', 'a@example.com'])).commands.map((c) => c.name())).toEqual(['list']);
    expect((await programFor(['ingest', 'dir'])).commands.map((c) => c.name())).toEqual(['import']);
    expect((await programFor(['help', 'list'])).commands.map((c) => c.name())).toEqual(['list']);
    expect((await programFor(['help', 'ingest'])).commands.map((c) => c.name())).toEqual(['import']);
    expect((await programFor(['--version'])).commands).toEqual([]);
    // The sources have no command list beside them (the build writes one: test/e2e/compiled-cli.test.ts).
    const all = (await buildProgram()).commands.length;
    expect((await programFor(['--help'])).commands).toHaveLength(all);
    expect((await programFor(['lsit'])).commands).toHaveLength(all);
    expect((await programFor(['completion', 'bash'])).commands).toHaveLength(all);
  });
});

/** What `program` writes for `args` (stdout and stderr together, as a terminal shows them) and its exit code. */
async function output(
  program: Command,
  args: string[],
  /** A command registered before this was called: it keeps the output it was created with unless set too. */
  ...commands: Command[]
): Promise<{ text: string; code?: number }> {
  let text = '';
  const write = (chunk: string) => {
    text += chunk;
  };
  for (const command of [program, ...commands])
    command.configureOutput({
      writeOut: write,
      writeErr: write,
      outputError: write,
      getOutHelpWidth: () => 80,
    });
  try {
    await program.parseAsync(['node', 'mail-archiver', ...args]);
    return { text };
  } catch (error) {
    return { text, code: (error as { exitCode?: number }).exitCode };
  }
}

describe('the command list the build writes for the help', () => {
  it('makes the same root help as the whole program, and the same answer to an unknown command', async () => {
    const list = await commandList();
    expect(list.map((c) => c.name)).toEqual((await buildProgram()).commands.map((c) => c.name()));
    expect(list.find((c) => c.name === 'import')?.term).toBe('import|ingest [options] <path...>');
    const help = [['--help'], ['help'], []];
    // An unknown command gets its line, the suggestion and the hint: the help only when asked for.
    for (const args of [...help, ['lsit'], ['ingset', 'x']]) {
      const described = await output(describedProgram(list), args);
      expect(described.text.includes('  list [options] <mailbox>')).toBe(help.includes(args));
      expect(described).toEqual(await output(await buildProgram(), args));
    }
  });
});
