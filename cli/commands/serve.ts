// `mail-archiver serve`: a bundle (or a maildir) read-only over IMAP, from a checked private copy (cli/stage-maildir.ts),
// with a local Dovecot.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { assertDovecot, startDovecot } from '../dovecot';
import { parsePort } from '../options';
import { stageMaildir } from '../stage-maildir';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('serve a bundle (or an unpacked maildir) read-only over IMAP with a local Dovecot')
    .argument('<bundle-or-dir>', 'a bundle .tar.gz, a directory holding Maildir/, or a maildir')
    .option('--port <port>', 'IMAP port on 127.0.0.1', parsePort, 1143)
    .action(async (source: string, options: { port: number }) => {
      assertDovecot();
      const work = await mkdtemp(join(tmpdir(), 'mail-archiver-serve-'));
      try {
        const maildir = await stageMaildir(source, work);
        const server = await startDovecot({ maildir, workDir: join(work, 'dovecot'), port: options.port });
        console.log(
          [
            `Serving ${source} (a copy: the original is never written to).`,
            `  IMAP server  ${server.host}  port ${server.port}  no TLS (loopback only)`,
            `  user         ${server.user}`,
            `  password     ${server.password}`,
            'Ctrl-C stops the server and removes the copy.',
          ].join('\n'),
        );
        await new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
        await server.stop();
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    });
}
