// `mail-archiver serve`: a bundle (or a maildir) read-only over IMAP, from a checked private copy
// (cli/local/stage-maildir.ts), with a local Dovecot. Nothing is printed before the new credentials log in; the copy
// and Dovecot go on every way out (Ctrl-C, SIGTERM, an error, a refused bundle).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { UnsafeBundleError } from '../../shared/bundle/extract';
import { assertDovecot, runAs, startDovecot } from '../local/dovecot';
import { followMaildir } from '../local/follow-maildir';
import { StageSourceError, sourceMaildir, stageMaildir } from '../local/stage-maildir';
import { addCleanup, interruption, signalIsNormalStop } from '../process/interrupt';
import { parsePort } from '../process/options';
import { UserError } from '../process/output';
import { out } from '../program';
import { addIdentityOption, bundleKeys } from '../target/bundle-keys';

export function registerServe(program: Command): void {
  addIdentityOption(
    program
      .command('serve')
      .description(
        'serve a bundle (or a directory: an unpacked bundle, a replica mailbox, a maildir, followed as it grows) read-only over IMAP with a local Dovecot',
      )
      .argument(
        '<bundle-or-dir>',
        'a bundle .tar.gz or .tar.gz.age, a directory holding Maildir/, or a maildir',
      )
      .option('--port <port>', 'IMAP port on 127.0.0.1 (0: a free one)', parsePort, 1143),
  ).action(async (source: string, options: { port: number; identity?: string[] }) => {
    const output = out();
    assertDovecot();
    const keys = await bundleKeys(options.identity);
    signalIsNormalStop();
    const work = await mkdtemp(join(tmpdir(), 'mail-archiver-serve-'));
    const removeWork = () => rm(work, { recursive: true, force: true });
    const unregisterWork = addCleanup(removeWork);
    let stopServer: (() => Promise<void>) | undefined;
    let stopFollower: (() => Promise<void>) | undefined;
    const unregisterServer = addCleanup(() => stopServer?.());
    try {
      output.info(`checking and copying ${source}...`);
      const maildir = await stageMaildir(source, work, undefined, keys).catch((error: Error) => {
        // A refused bundle is the user's input, not our failure: said without an error class.
        if (error instanceof StageSourceError || error instanceof UnsafeBundleError)
          throw new UserError(error.message, { cause: error });
        throw error;
      });
      if (interruption.aborted) return;
      // A directory is followed: what a writer (`sync`) adds to it later is added to the copy while it is served.
      const followed = await sourceMaildir(source);
      if (followed) {
        const follower = followMaildir({
          source: followed,
          copy: maildir,
          ...((process.getuid?.() ?? 1) === 0 ? { owner: runAs() } : {}),
          onAdded: (folder, uids) => {
            output.jsonLine({ folder, added: uids });
            output.info(
              `${folder}: ${uids.length} new message(s) from ${source} served (UID ${uids.join(', ')})`,
            );
          },
          onProblem: (message) => output.warn(`following ${source}: ${message}`),
        });
        stopFollower = follower.stop;
        // Before Dovecot starts: a message added while the copy was made is in its uidlist at once.
        await follower.pass();
      }
      const server = await startDovecot({ maildir, workDir: join(work, 'dovecot'), port: options.port });
      stopServer = server.stop;
      output.jsonLine({
        host: server.host,
        port: server.port,
        user: server.user,
        password: server.password,
      });
      output.result(
        [
          followed
            ? `Serving ${source} (a copy that follows it: mail added to it is served as it arrives; the original is never written to).`
            : `Serving ${source} (a copy: the original is never written to).`,
          `  IMAP server  ${server.host}  port ${server.port}  no TLS (loopback only)`,
          `  user         ${server.user}`,
          `  password     ${server.password}`,
          ...((process.getuid?.() ?? 1) === 0
            ? [
                `  Dovecot runs as the system user ${server.account.name} (it refuses to run as root)${server.account.created ? `: created now with useradd --system; remove it with: userdel ${server.account.name}` : ''}`,
              ]
            : []),
          'Ctrl-C stops the server and removes the copy.',
        ].join('\n'),
      );
      // Until Ctrl-C or SIGTERM; should Dovecot die first, say so instead of hanging or vanishing.
      const died = await Promise.race([
        server.exited,
        new Promise<undefined>((resolve) => {
          if (interruption.aborted) resolve(undefined);
          interruption.addEventListener('abort', () => resolve(undefined), { once: true });
        }),
      ]);
      if (died !== undefined) throw new Error(`Dovecot stopped by itself; the end of its log:\n${died}`);
      output.info('stopping...');
    } finally {
      await stopFollower?.();
      await stopServer?.();
      await removeWork();
      unregisterServer();
      unregisterWork();
    }
  });
}
