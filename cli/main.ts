// `mail-archiver`: assembles the commands (one module each under cli/commands/) into one commander program.
// The commands are thin over shared/ and the local or deployed archive (cli/context.ts).
import { Command, Option } from 'commander';
import { registerDoctor } from './commands/doctor';
import { registerExport } from './commands/export';
import { registerForwards } from './commands/forwards';
import { registerGmailCommands } from './commands/gmail';
import { registerImport } from './commands/import';
import { registerKeygen } from './commands/keygen';
import { registerList } from './commands/list';
import { registerReconcile } from './commands/reconcile';
import { registerRedrive } from './commands/redrive';
import { registerReindex } from './commands/reindex';
import { registerRestore } from './commands/restore';
import { registerSearch } from './commands/search';
import { registerSendTest } from './commands/send-test';
import { registerServe } from './commands/serve';
import { registerStart } from './commands/start';
import { registerStatus } from './commands/status';
import { registerVerify } from './commands/verify';
import { createContext } from './context';
import { configureProgram, registerCompletion, runProgram } from './program';

/** The whole command line, every command registered and nothing run (the docs generator reads it too). */
export function buildProgram(): Command {
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
    .showHelpAfterError()
    .configureOutput({ outputError: (text, write) => write(text) });

  const ctx = createContext(program);
  registerStart(program, ctx);
  registerSendTest(program);
  registerImport(program, ctx);
  registerList(program, ctx);
  registerSearch(program, ctx);
  registerStatus(program, ctx);
  registerExport(program, ctx);
  registerVerify(program);
  registerServe(program);
  registerForwards(program, ctx);
  registerRedrive(program, ctx);
  registerReconcile(program, ctx);
  registerReindex(program, ctx);
  registerRestore(program);
  registerKeygen(program);
  registerGmailCommands(program, ctx);
  registerDoctor(program, ctx);
  registerCompletion(program);
  return program;
}

/** Runs the CLI; sets process.exitCode (see cli/process/output.ts ExitCode). */
export async function main(argv: string[]): Promise<void> {
  await runProgram(buildProgram(), argv);
}
