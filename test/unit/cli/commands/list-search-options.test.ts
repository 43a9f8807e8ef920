// What list and search refuse before they touch an archive (issue 29, a fresh user's findings): a blank value
// (a script's unset variable) would filter on nothing and answer with every message; a window with no moment in
// it and an empty mailbox are mistakes in the command line (exit 2), not "no messages match". The config named
// does not exist, so a command that got past these checks fails there instead, starting nothing.
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { programFor } from '../../../../cli/main';
import { ExitCode } from '../../../../cli/process/output';

const NO_CONFIG = ['--config', '/nonexistent/mail-archiver.config.json'];

/** What `args` throws when run (nothing printed: commander's output is captured). */
async function refusal(args: string[]): Promise<unknown> {
  const program: Command = await programFor(args);
  const quiet = () => undefined;
  program.configureOutput({ writeOut: quiet, writeErr: quiet, outputError: quiet });
  for (const command of program.commands)
    command.configureOutput({ writeOut: quiet, writeErr: quiet, outputError: quiet });
  try {
    await program.parseAsync(['node', 'mail-archiver', ...NO_CONFIG, ...args]);
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('list and search with a blank value', () => {
  it.each([
    ['search', '--from', ''],
    ['search', '--to', ''],
    ['search', '--subject', '  '],
    ['search', '--message-id', ''],
    ['search', '--mailbox', 'alice@example.com', '--mailbox', ' '],
    ['list', 'alice@example.com', '--from', ''],
    ['list', 'alice@example.com', '--subject', '\t'],
    ['list', 'alice@example.com', '--folder', ''],
  ])('%s %s %j...: exit 2 naming the option', async (...args) => {
    const option = [...args].reverse().find((a) => a.startsWith('--'));
    expect(await refusal(args)).toMatchObject({
      message: `${option} needs a value`,
      exitCode: ExitCode.usage,
    });
  });

  it('a value that is not blank gets past the check (to the missing config here)', async () => {
    expect(await refusal(['search', '--from', 'alice'])).toMatchObject({ message: /no config file/ });
    expect(await refusal(['list', 'alice@example.com', '--folder', 'INBOX'])).toMatchObject({
      message: /no config file/,
    });
  });
});

describe('list with an empty mailbox', () => {
  it.each([[''], [' ']])('list %j: exit 2, a mailbox address is needed', async (mailbox) => {
    expect(await refusal(['list', mailbox])).toMatchObject({
      message: 'a mailbox address is needed',
      exitCode: ExitCode.usage,
    });
  });
});

describe('a date range with no moment in it', () => {
  it.each([
    ['search', '--since', '2002-10-01', '--until', '2002-09-01'],
    ['search', '--since', '2002-10-01', '--until', '2002-10-01'],
    ['list', 'alice@example.com', '--since', '2002-10-01', '--until', '2002-09-01'],
  ])('%s ... %s %s %s %s: exit 2', async (...args) => {
    expect(await refusal(args)).toMatchObject({
      message: /--since .* is not before --until/,
      exitCode: ExitCode.usage,
    });
  });
});

describe('a flag given with its negation', () => {
  it.each([
    [['search', '--attachment', '--no-attachment']],
    [['search', '--no-attachment', '--from', 'alice', '--attachment']],
  ])('%j: exit 2 naming both, not the last one winning', async (args) => {
    expect(await refusal(args)).toMatchObject({
      message: '--attachment and --no-attachment ask for opposite things: give one of them',
      exitCode: ExitCode.usage,
    });
  });

  it.each([
    [['search', '--attachment']],
    [['search', '--no-attachment']],
    [['search', '--attachment', '--attachment']],
  ])('%j gets past the check (to the missing config here)', async (args) => {
    expect(await refusal(args)).toMatchObject({ message: /no config file/ });
  });
});
