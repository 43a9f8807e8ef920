// `mail-archiver restore <bundle-or-dir> --imap imaps://user@host[:port]`: moves a bundle into a new provider over
// IMAP (shared/restore/ does the work), with a progress bar, a report, and exit 1 unless every message
// was verified on the target.
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { ImapFlow } from 'imapflow';
import { releaseIfHeldSync } from '../../shared/adapters/pid-lock';
import { CONTROL_CHARACTERS } from '../../shared/mail/display-text';
import {
  BundleNotVerifiedError,
  RestoreStateError,
  RestoreUnsupportedError,
  TargetLoginError,
  TargetRefusedError,
  TargetUnreachableError,
} from '../../shared/restore/errors';
import type { RestoreProgress, RestoreReport } from '../../shared/restore/report';
import { restoreBundle } from '../../shared/restore/restore';
import { archiverHome } from '../local/running-stack';
import { addCleanup } from '../process/interrupt';
import { humanBytes, UserError } from '../process/output';
import { progressBar } from '../process/progress-bar';
import { readSecret } from '../process/secret';
import { out } from '../program';
import { bundleAt } from '../target/bundle-file';
import { addIdentityOption, bundleKeys } from '../target/bundle-keys';

/** Environment variables that carry the secret: never the command line, where `ps` and shell history see it. */
export const PASSWORD_ENV = 'MAIL_ARCHIVER_IMAP_PASSWORD';
export const ACCESS_TOKEN_ENV = 'MAIL_ARCHIVER_IMAP_ACCESS_TOKEN';

/** A mistake in the command line or the environment of `restore` (a password in the URL, no such bundle). */
export class RestoreUsageError extends UserError {
  override name = 'RestoreUsageError';
}

export interface ImapTarget {
  secure: boolean;
  host: string;
  port: number;
  user: string;
}

/** `imaps://user@host[:port]` (TLS, default port 993) or `imap://` (STARTTLS when offered, default 143). */
export function parseImapUrl(value: string): ImapTarget {
  let url: URL;
  try {
    url = new URL(value);
  } catch (error) {
    throw new RestoreUsageError(`--imap ${JSON.stringify(value)} is not a URL like imaps://user@host:993`, {
      cause: error,
    });
  }
  if (url.protocol !== 'imaps:' && url.protocol !== 'imap:')
    throw new RestoreUsageError('--imap must start with imaps:// (or imap:// for STARTTLS)');
  if (url.password)
    throw new RestoreUsageError(
      `do not put the password in the URL (the command line is visible to other users): set ${PASSWORD_ENV}, or type it when asked`,
    );
  if (!url.username) throw new RestoreUsageError('--imap needs a user: imaps://user@host');
  const secure = url.protocol === 'imaps:';
  return {
    secure,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : secure ? 993 : 143,
    user: decodeURIComponent(url.username),
  };
}

export function registerRestore(program: Command): void {
  addIdentityOption(program.command('restore'))
    .description(
      'move a bundle into an IMAP server (a new provider): append every message, then fetch it back and compare',
    )
    .argument('<bundle-or-dir>', 'a bundle .tar.gz or .tar.gz.age, or an unpacked bundle directory')
    .requiredOption(
      '--imap <url>',
      'the target: imaps://user@host[:port] (user@domain works: the last @ ends it)',
    )
    .option('--folder <name...>', 'only these bundle folders (repeatable)')
    .option('--dry-run', 'connect and report what would be moved; change nothing')
    .option('--state <file>', 'the resume state (default: under $MAIL_ARCHIVER_HOME/restore/)')
    .addHelpText(
      'after',
      `
The secret is read from ${PASSWORD_ENV} (a password or an app password) or ${ACCESS_TOKEN_ENV} (an OAuth 2
access token, sent with XOAUTH2), or asked for in the terminal; never from the command line.
Gmail / Google Workspace: turn on 2-step verification, create an app password (Google Account > Security >
App passwords) and use it as the password with --imap imaps://you@gmail.com@imap.gmail.com; where app
passwords are not allowed, get an access token with the https://mail.google.com/ scope and set ${ACCESS_TOKEN_ENV}.
Sent, Junk, Drafts and Trash go to the folders the server marks for that use ([Gmail]/Sent Mail on Gmail, "Sent
Items" on Fastmail) or, where it marks none, the ones named so (INBOX.Sent, INBOX.Spam): --dry-run shows where
every folder goes. Run it again at any time: what is already there, even as the server changed it, is not
appended twice. Exit 1 unless every message is verified; the report names what the server altered or refused,
with a next step for each refusal.`,
    )
    .action(
      async (
        path: string,
        options: {
          imap: string;
          folder?: string[];
          dryRun?: boolean;
          state?: string;
          identity?: string[];
        },
      ) => {
        const target = parseImapUrl(options.imap);
        // An encrypted bundle's keys are tried before anything else: a wrong one is said at once, in plain words.
        const source = await bundleAt(path, { keys: await bundleKeys(options.identity) });
        const token = process.env[ACCESS_TOKEN_ENV];
        const password = token
          ? undefined
          : (process.env[PASSWORD_ENV] ??
            (await readSecret(
              `password for ${target.user}@${target.host}: `,
              () =>
                new RestoreUsageError(
                  `no password: set ${PASSWORD_ENV} (or ${ACCESS_TOKEN_ENV} for an OAuth access token), or run in a terminal to be asked`,
                ),
            )));
        const statePath =
          options.state ??
          join(
            archiverHome(),
            'restore',
            `${createHash('sha256')
              .update(`${resolve(source.path)}\n${target.user}@${target.host}:${target.port}`)
              .digest('hex')
              .slice(0, 16)}.jsonl`,
          );
        const bar = await progressBar(
          out(),
          'restoring [{bar}] {percentage}% | {messages} | {rate} | ETA {eta_formatted} | {counts}',
          { etaBuffer: 50 },
        );
        const started = Date.now();
        // Ctrl-C: every append made so far is in the state (or found on the server by its hash); say how to go on,
        // and free the state for the next run.
        const removeCleanup = addCleanup(() => {
          bar?.stop();
          releaseIfHeldSync(`${statePath}.lock`); // none on a dry run, or before it is taken
          process.stderr.write(
            `interrupted: run the same command again to go on (what reached the server is not appended twice); state ${statePath}\n`,
          );
        });
        let report: RestoreReport;
        try {
          report = await restoreBundle({
            source,
            newClient: () =>
              new ImapFlow({
                host: target.host,
                port: target.port,
                secure: target.secure,
                auth: token
                  ? { user: target.user, accessToken: token }
                  : { user: target.user, pass: password ?? '' },
                logger: false,
              }),
            statePath,
            ...(options.folder ? { folders: options.folder } : {}),
            dryRun: Boolean(options.dryRun),
            onProgress: (p) => bar?.update(p.bytesDone, p.bytesTotal, restoreFields(p, started)),
            log: (line) => {
              if (bar) bar.log(line);
              else process.stderr.write(`${line}\n`);
            },
          });
        } catch (error) {
          if (error instanceof TargetLoginError)
            throw new RestoreUsageError(
              `${error.message} (user ${JSON.stringify(target.user)}); ${
                token
                  ? `check ${ACCESS_TOKEN_ENV}: an OAuth access token lasts about an hour`
                  : `check the password in ${PASSWORD_ENV} (Gmail and others want an app password: see restore --help)`
              }`,
              { cause: error },
            );
          // What the user can act on (the bundle, the address, the state file, the server's refusal): said plainly,
          // without the "--verbose for the details" of an unexpected failure.
          if (
            error instanceof BundleNotVerifiedError ||
            error instanceof RestoreUnsupportedError ||
            error instanceof RestoreStateError ||
            error instanceof TargetUnreachableError ||
            error instanceof TargetRefusedError
          )
            throw new RestoreUsageError(error.message, { cause: error });
          throw error;
        } finally {
          removeCleanup();
          bar?.stop();
        }
        printRestoreReport(report, `${target.user}@${target.host}:${target.port}`);
        if (!report.dryRun && report.verified < report.messages) process.exitCode = 1;
      },
    );
}

/** The bar's fields for restore progress `p`, `since` (epoch ms) the restore started. */
function restoreFields(p: RestoreProgress, since: number): Record<string, string> {
  const seconds = Math.max((Date.now() - since) / 1000, 0.001);
  return {
    messages: `${p.messagesDone}/${p.messagesTotal} msgs`,
    rate: `${(p.messagesDone / seconds).toFixed(1)} msg/s, ${humanBytes(Math.round(p.bytesDone / seconds))}/s`,
    counts: `${p.moved} moved, ${p.alreadyThere} there, ${p.refused} refused`,
  };
}

/** How the report names a folder's target: the path, and how it was chosen. */
function targetCell(f: RestoreReport['folders'][number], dryRun: boolean): string {
  const how =
    f.match === 'special use'
      ? `the server's ${f.use}`
      : f.match === 'provider name'
        ? `by name: the server marks no ${f.use}`
        : undefined;
  const created = f.created ? (dryRun ? 'to be created' : 'created') : undefined;
  const notes = [how, created].filter(Boolean);
  return notes.length ? `${f.target} (${notes.join(', ')})` : f.target;
}

/** A bundle folder's name for the report: quoted, its control characters escaped, where it has any (one row each). */
function shownFolder(name: string): string {
  return name.search(CONTROL_CHARACTERS) >= 0 ? JSON.stringify(name) : name;
}

export function printRestoreReport(report: RestoreReport, target: string): void {
  const rows = report.folders.map((f) => [
    shownFolder(f.folder),
    targetCell(f, report.dryRun),
    String(f.inBundle),
    String(f.moved),
    String(f.alreadyThere),
    String(f.refused),
    report.dryRun ? '-' : String(f.altered),
    report.dryRun ? '-' : String(f.verified),
  ]);
  const header = [
    'FOLDER',
    'TARGET',
    'IN BUNDLE',
    report.dryRun ? 'TO MOVE' : 'MOVED',
    'ALREADY THERE',
    'REFUSED',
    'ALTERED',
    'VERIFIED',
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  console.log(`${report.dryRun ? 'dry run: nothing was changed on' : 'restored into'} ${target}`);
  console.log(line(header));
  for (const row of rows) console.log(line(row));
  console.log(
    report.dryRun
      ? `${report.messages} messages: ${report.moved} would be moved, ${report.alreadyThere} already there`
      : `${report.messages} messages: moved ${report.moved}, already there ${report.alreadyThere}, refused ${report.refused.length}, verified ${report.verified}${report.altered.length ? `, altered by the server ${report.altered.length}` : ''}${report.reconnects ? ` (${report.reconnects} reconnects)` : ''}`,
  );
  if (report.nulAsHighBit)
    console.log(
      `  ${report.nulAsHighBit} messages with NUL bytes: the server serves NUL as 0x80 and has no BINARY; verified on every other byte`,
    );
  for (const r of report.refused) {
    console.log(
      `  refused (${r.reason}): ${shownFolder(r.folder)} UID ${r.uid}, ${humanBytes(r.size)}: ${r.serverText}`,
    );
    console.log(`    next step: ${r.nextStep}`);
  }
  if (report.stoppedForQuota)
    console.log(
      `  stopped: the server refuses mail for quota (${report.stoppedForQuota}); ${report.notAttempted} messages not attempted.\n` +
        "  Make room, or wait for the provider's daily upload limit to reset, and run the same command again: it resumes.",
    );
  for (const a of report.altered)
    console.log(
      `  altered by the server: ${shownFolder(a.folder)} UID ${a.uid} (target UID ${a.targetUid}): ${a.changes.join(', ')}`,
    );
  if (report.altered.length)
    console.log(
      '  These are on the target with their flags and dates, changed by the server as it stored them; the archive\n' +
        '  and the bundle keep the originals. A later run finds them again and appends nothing.',
    );
  for (const n of report.notVerified)
    console.log(`  NOT verified: ${shownFolder(n.folder)} UID ${n.uid}: ${n.problem}`);
  if (!report.dryRun)
    console.log(`state: ${report.statePath} (run the same command again to resume or re-check)`);
}
