// The CLI loads only the command it runs (cli/main.ts): which word names the command, and the table of lazily
// loaded commands against the program that registers every one of them.
import { describe, expect, it } from 'vitest';
import { buildProgram, COMMANDS, programFor, requestedCommand } from '../../../cli/main';

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
});

describe('the lazily loaded commands', () => {
  it('name every command and alias the whole program registers, in the order of its help', async () => {
    const program = await buildProgram();
    const registered = program.commands
      .filter((c) => c.name() !== 'completion')
      .map((c) => [c.name(), ...c.aliases()]);
    expect(COMMANDS.flatMap((c) => c.names)).toEqual(registered.flat());
  });

  it('build a program holding only the command asked for; the help, an unknown word and no command get all', async () => {
    expect((await programFor(['list', 'a@example.com'])).commands.map((c) => c.name())).toEqual(['list']);
    expect((await programFor(['ingest', 'dir'])).commands.map((c) => c.name())).toEqual(['import']);
    expect((await programFor(['--version'])).commands).toEqual([]);
    const all = (await buildProgram()).commands.length;
    expect((await programFor(['--help'])).commands).toHaveLength(all);
    expect((await programFor(['lsit'])).commands).toHaveLength(all);
    expect((await programFor(['help', 'list'])).commands).toHaveLength(all);
  });
});
