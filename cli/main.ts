// `mail-archiver`: thin commands over shared/ and the local or deployed archive.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import { type ArchiverConfig, defaultConfigPath, loadConfig } from '../shared/config';
import { type BundleFormat, joinBundles } from '../shared/export';
import { runExportJob } from '../shared/export-job';
import type { ForwardEntry, ForwardRequest, ForwardState } from '../shared/forward';
import type { DeliveryRow } from '../shared/index-schema';
import { readMessageBytes } from '../shared/mime';
import { reconcile, reindex } from '../shared/reconcile';
import { normaliseAddress, UNROUTED_MAILBOX } from '../shared/routing';
import { verifyBundle } from '../shared/verify';
import { connectAws, exportOnAws, redriveOnAws } from './aws-target';
import { describeError } from './describe-error';
import { assertDovecot, startDovecot } from './dovecot';
import {
  checkImportOptions,
  DEFAULT_IMPORT_CONCURRENCY,
  deriveRecipients,
  type ImportReport,
  importMessages,
} from './import';
import { redriveIngestLocally, redriveIngestOnAws } from './ingest-redrive';
import { ParkedForwards, startForwardSink } from './local-forwarding';
import {
  archiverHome,
  type LocalArchive,
  readRunningStack,
  startLocalArchive,
  startLocalStack,
} from './local-stack';
import { readMbox, totalBytes } from './message-sources';
import { registerRestore } from './restore';
import { stageMaildir } from './stage-maildir';

interface GlobalOptions {
  config?: string;
  target: 'local' | 'aws';
}

const program = new Command('mail-archiver')
  .description('Archive every message of your domain byte for byte; restore it as an IMAP-servable maildir.')
  .addOption(
    new Option(
      '-c, --config <file>',
      'config file (default: $MAIL_ARCHIVER_CONFIG or ./mail-archiver.config.json)',
    ),
  )
  .addOption(
    new Option('-t, --target <target>', 'where the archive is').choices(['local', 'aws']).default('local'),
  )
  .showHelpAfterError()
  .configureOutput({ outputError: (text, write) => write(text) });

function globals(): GlobalOptions & { configuration: ArchiverConfig } {
  const options = program.opts<GlobalOptions>();
  return { ...options, configuration: loadConfig(options.config ?? defaultConfigPath()) };
}

/** Runs `fn` against the archive: a running `npm start`, local services started for this command, or AWS. */
async function withArchive<T>(
  fn: (archive: LocalArchive, config: ArchiverConfig) => Promise<T>,
  options: { forwarding?: boolean } = {},
): Promise<T> {
  const { target, configuration } = globals();
  if (target === 'aws') {
    const archive = await connectAws(configuration);
    try {
      return await fn(archive, configuration);
    } finally {
      await archive.close();
    }
  }
  const home = archiverHome();
  // Forwarding goes where `npm start` sends it, else to the configured smarthost, else to a sink for now.
  const running = readRunningStack(home);
  const sink =
    options.forwarding && !running?.smarthost && !configuration.forwarding.smarthost
      ? await startForwardSink({ dir: join(home, 'sink') })
      : undefined;
  const smarthost =
    running?.smarthost ??
    configuration.forwarding.smarthost ??
    (sink ? { host: sink.host, port: sink.port } : undefined);
  const archive = await startLocalArchive(configuration, {
    home,
    ...(options.forwarding && smarthost ? { forwarding: { smarthost, home } } : {}),
  });
  try {
    return await fn(archive, configuration);
  } finally {
    await archive.close();
    await sink?.stop();
  }
}

program
  .command('start')
  .description(
    "run the archiver locally: DynamoDB Local, an S3-compatible server and an SMTP listener in SES's role",
  )
  .option('--smtp-port <port>', 'SMTP port', parsePort, 2525)
  .option('--smtp-host <host>', 'SMTP address', '127.0.0.1')
  .action(async (options: { smtpPort: number; smtpHost: string }) => {
    const { configuration } = globals();
    const home = archiverHome();
    const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
    const stack = await startLocalStack(configuration, {
      home,
      smtpPort: options.smtpPort,
      smtpHost: options.smtpHost,
      log,
    });
    const mailbox = Object.keys(configuration.mailboxes)[0] ?? 'alice@example.com';
    console.log(
      [
        'mail-archiver is running locally.',
        `  SMTP (in SES's role)  smtp://${stack.smtp.host}:${stack.smtp.port}  accepts ${Object.keys(configuration.mailboxes).join(', ')}${configuration.journalAddress ? `, ${configuration.journalAddress}` : ''}`,
        `  S3 (s3rver)           ${stack.archive.endpoints.s3}  bucket ${stack.archive.bucket}`,
        `  DynamoDB Local        ${stack.archive.endpoints.dynamodb}  table ${stack.archive.tableName}`,
        stack.sinkDir
          ? `  forwarded copies      kept in ${stack.sinkDir} (a local SMTP sink stands in for Gmail)`
          : `  forwarded copies      sent to ${configuration.forwarding.smarthost?.host}:${configuration.forwarding.smarthost?.port}`,
        `  data                  ${home}`,
        '',
        'Send a first message from another terminal:',
        `  npx mail-archiver send-test ${mailbox}`,
        `  (or: swaks --server ${stack.smtp.host}:${stack.smtp.port} --to ${mailbox})`,
        'then look at it:',
        `  npx mail-archiver list ${mailbox}`,
        '',
        'Ctrl-C stops everything.',
      ].join('\n'),
    );
    await new Promise<void>((resolve) => {
      let stopping = false;
      const stop = async () => {
        if (stopping) return;
        stopping = true;
        console.log('stopping...');
        await stack.stop();
        resolve();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    console.log('stopped.');
  });

program
  .command('send-test')
  .description('send a test message to the running local stack over SMTP')
  .argument('<to>', 'recipient address')
  .option('--subject <subject>', 'subject', 'Hello from mail-archiver')
  .action(async (to: string, options: { subject: string }) => {
    const running = readRunningStack(archiverHome());
    if (!running?.smtp)
      throw new UsageError('no local stack is running here: start it with "npm start" first');
    const { createTransport } = await import('nodemailer');
    const transport = createTransport({
      host: running.smtp.host,
      port: running.smtp.port,
      secure: false,
      ignoreTLS: true,
    });
    const info = await transport.sendMail({
      from: 'Test Sender <sender@example.net>',
      to,
      subject: options.subject,
      text: 'If you can list this, the archiver works.\n',
    });
    console.log(`sent: ${info.response}`);
  });

program
  .command('ingest')
  .description(
    'archive .eml files, directories of them, maildirs and mbox files through the same path as SES mail',
  )
  .argument('<path...>', 'files or directories')
  .option(
    '--to <address...>',
    'envelope recipients, checked as SMTP checks them (default: the configured mailboxes the message is addressed to)',
  )
  .option(
    '--mailbox <address>',
    'the archive mailbox these files belong to (a Takeout): its sent mail goes to its Sent folder',
  )
  .option(
    '--concurrency <n>',
    `messages imported at once (default ${DEFAULT_IMPORT_CONCURRENCY})`,
    parsePositive,
  )
  .action(async (paths: string[], options: { to?: string[]; mailbox?: string; concurrency?: number }) => {
    const report = await withArchive(async (archive, config) => {
      checkImportOptions(config, options);
      const total = await totalBytes(paths);
      const bar = await importProgressBar(total);
      const stop = new AbortController();
      const onSigint = () => {
        process.stderr.write(
          '\ninterrupted: finishing the messages in flight; run the same command again to resume\n',
        );
        stop.abort();
      };
      process.once('SIGINT', onSigint);
      let done = 0;
      let messages = 0;
      const started = Date.now();
      try {
        return await importMessages(config, archive, paths, {
          ...(options.to ? { to: options.to } : {}),
          ...(options.mailbox ? { mailbox: options.mailbox } : {}),
          ...(options.concurrency ? { concurrency: options.concurrency } : {}),
          signal: stop.signal,
          onProgress: (bytes, r) => {
            done += bytes;
            messages = r.archived + r.duplicates + r.failed.length;
            const seconds = Math.max((Date.now() - started) / 1000, 0.001);
            bar?.update(done, {
              rate: (messages / seconds).toFixed(0),
              counts: `${r.archived} new, ${r.duplicates} present, ${r.failed.length} failed, ${r.skipped.length} skipped`,
            });
          },
        });
      } finally {
        process.removeListener('SIGINT', onSigint);
        bar?.stop();
        if (stop.signal.aborted) process.exitCode = 130;
      }
    });
    printReport(report);
    if (report.failed.length > 0) process.exitCode = process.exitCode || 1;
  });

program
  .command('list')
  .description('list archived messages of a mailbox, newest first')
  .argument('<mailbox>', `mailbox address (or "${UNROUTED_MAILBOX}")`)
  .option('--folder <folder>', 'only this folder (INBOX, Sent, Junk)')
  .option('--from <text>', 'From contains this text (case-insensitive)')
  .option('--subject <text>', 'Subject contains this text (case-insensitive)')
  .option('--since <date>', 'received on or after this date', parseDate)
  .option('--until <date>', 'received before this date', parseDate)
  .option('--limit <n>', 'at most this many rows', parsePositive)
  .option('--json', 'JSON lines, one object per message')
  .action(
    async (
      mailbox: string,
      options: {
        folder?: string;
        from?: string;
        subject?: string;
        since?: Date;
        until?: Date;
        limit?: number;
        json?: boolean;
      },
    ) => {
      const rows = await withArchive(async (archive) => {
        const out: DeliveryRow[] = [];
        const contains = (value: string | undefined, text: string | undefined) =>
          text === undefined || (value ?? '').toLowerCase().includes(text.toLowerCase());
        for await (const row of archive.index.listDeliveries(normaliseMailbox(mailbox), {
          folder: options.folder,
        })) {
          const received = new Date(row.receivedAt);
          if (options.since && received < options.since) break;
          if (options.until && received >= options.until) continue;
          if (!contains(row.from.join(', '), options.from) || !contains(row.subject, options.subject))
            continue;
          out.push(row);
          if (options.limit !== undefined && out.length >= options.limit) break;
        }
        return out;
      });
      if (options.json) {
        for (const row of rows) process.stdout.write(`${JSON.stringify(row)}\n`);
        return;
      }
      if (rows.length === 0) {
        console.log(`no messages in ${mailbox}${options.folder ? ` ${options.folder}` : ''} match`);
        return;
      }
      printTable(
        ['RECEIVED', 'FOLDER', 'UID', 'FROM', 'SUBJECT', 'SIZE'],
        rows.map((r) => [
          r.receivedAt.replace('T', ' ').slice(0, 19),
          r.folder,
          String(r.uid),
          r.from[0] ?? '',
          r.subject ?? '(no subject)',
          humanBytes(r.size),
        ]),
      );
    },
  );

program
  .command('status')
  .description('what is running, where the data is, and message counts per mailbox and folder')
  .action(async () => {
    const { target, configuration } = globals();
    const home = archiverHome();
    if (target === 'local') {
      const running = readRunningStack(home);
      console.log(
        running
          ? `local stack: running (pid ${running.pid}, since ${running.startedAt})\n  SMTP      smtp://${running.smtp?.host}:${running.smtp?.port}\n  S3        ${running.endpoints.s3}\n  DynamoDB  ${running.endpoints.dynamodb}`
          : 'local stack: not running (npm start runs it); services started for this command',
      );
      console.log(`data: ${home} (${humanBytes(directorySize(home))})`);
    } else {
      console.log(`target: AWS stack ${configuration.stackName}`);
    }
    await withArchive(async (archive, config) => {
      const mailboxes = new Set([...Object.keys(config.mailboxes), ...(await archive.index.mailboxes())]);
      const rows: string[][] = [];
      for (const mailbox of [...mailboxes].sort()) {
        const folders = await archive.index.folders(mailbox);
        if (folders.length === 0) rows.push([mailbox, '-', '0', '-']);
        for (const folder of folders.sort((a, b) => a.folder.localeCompare(b.folder))) {
          let count = 0;
          for await (const _ of archive.index.folderDeliveries(mailbox, folder.folder)) count += 1;
          rows.push([mailbox, folder.folder, String(count), String(folder.uidValidity)]);
        }
      }
      console.log('');
      printTable(['MAILBOX', 'FOLDER', 'MESSAGES', 'UIDVALIDITY'], rows);
    });
  });

program
  .command('export')
  .description('export a mailbox as an IMAP-servable maildir bundle (tar.gz), or as mboxrd')
  .argument('<mailbox>', 'mailbox address')
  .option('--out <file>', 'bundle file (default: <mailbox>-<export id>.tar.gz)')
  .option(
    '--incremental',
    'only what arrived since the previous export of this mailbox (with the full uidlists)',
  )
  .addOption(
    new Option('--format <format>', 'bundle format').choices(['maildir', 'mboxrd']).default('maildir'),
  )
  .option(
    '--parts <n>',
    'split the work into n parts built in parallel, then joined (default: by size)',
    parsePositive,
  )
  .action(
    async (
      mailbox: string,
      options: { out?: string; incremental?: boolean; format: BundleFormat; parts?: number },
    ) => {
      const { target, configuration } = globals();
      const request = {
        mailbox: normaliseMailbox(mailbox),
        format: options.format,
        incremental: Boolean(options.incremental),
      };
      const outFor = (exportId: string) => options.out ?? `${request.mailbox}-${exportId}.tar.gz`;
      const partPath = (exportId: string, part: number, count: number) =>
        count === 1 ? outFor(exportId) : `${outFor(exportId)}.part-${part + 1}-of-${count}`;
      const bar = await progressBar(1, 'building');
      const progress = (done: number, total: number) => {
        bar?.setTotal(Math.max(total, 1));
        bar?.update(done, { counts: `${done}/${total} messages` });
      };
      const record =
        target === 'aws'
          ? await exportOnAws(configuration, { ...request, parts: options.parts }, partPath, progress)
          : await withArchive((archive) =>
              runExportJob(
                archive,
                { ...request, parts: options.parts },
                (exportId, part, count) => {
                  const path = partPath(exportId, part, count);
                  const stream = createWriteStream(path);
                  return { key: path, stream, done: finished(stream) };
                },
                progress,
              ),
            );
      bar?.stop();
      const out = outFor(record.exportId);
      // Every part is checked against the sha256 the exporter computed before anything is called done.
      for (const [i, part] of record.parts.entries()) {
        const path = partPath(record.exportId, i, record.parts.length);
        const sha256 = await sha256File(path);
        if (sha256 !== part.sha256)
          throw new Error(`${path} does not match the bundle's sha256 (${sha256} != ${part.sha256})`);
      }
      if (record.parts.length > 1) {
        const paths = record.parts.map((_, i) => partPath(record.exportId, i, record.parts.length));
        await joinBundles(
          paths.map((path) => async () => createReadStream(path)),
          createWriteStream(out),
        );
        for (const path of paths) await rm(path);
      }
      const sha256 = await sha256File(out);
      const bytes = (await stat(out)).size;
      console.log(
        `${record.incremental ? 'incremental ' : ''}export ${record.exportId} of ${request.mailbox}: ${record.messagesDone} messages, ${humanBytes(bytes)}${record.parts.length > 1 ? ` (built in ${record.parts.length} parts, joined)` : ''}\n  ${out}  sha256 ${sha256} (checked)`,
      );
      if (options.incremental && !record.incremental) {
        console.log('  (no earlier export of this mailbox: this one is full)');
      }
    },
  );

program
  .command('verify')
  .description('re-hash every message of a bundle against its manifest and check the maildir rules')
  .argument('<bundle>', 'bundle file (.tar.gz)')
  .action(async (bundle: string) => {
    const report = await verifyBundle(createReadStream(bundle), readMbox);
    if (report.ok) {
      console.log(`${bundle}: OK, ${report.messages} messages match the manifest and the maildir rules`);
      return;
    }
    console.log(`${bundle}: ${report.errors.length} problems`);
    for (const error of report.errors) console.log(`  ${error}`);
    process.exitCode = 1;
  });

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

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

program
  .command('forwards')
  .description('the forwarding ledger of a mailbox: one line per (message, target) with its state')
  .argument('<mailbox>', 'mailbox address')
  .addOption(
    new Option('--state <state>', 'only this state').choices([
      'pending',
      'sending',
      'sent',
      'skipped',
      'failed',
      'bounced',
      'complained',
    ]),
  )
  .option('--json', 'JSON lines, one object per ledger entry')
  .action(async (mailbox: string, options: { state?: ForwardState; json?: boolean }) => {
    const entries = await withArchive(async (archive) => {
      const out: ForwardEntry[] = [];
      for await (const entry of archive.index.listForwards(normaliseMailbox(mailbox), options.state))
        out.push(entry);
      return out.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
    });
    if (options.json) {
      for (const entry of entries) process.stdout.write(`${JSON.stringify(entry)}\n`);
      return;
    }
    if (entries.length === 0) {
      console.log(`no forwards for ${mailbox}${options.state ? ` in state ${options.state}` : ''}`);
      return;
    }
    printTable(
      ['UPDATED', 'STATE', 'TARGET', 'MESSAGE', 'DETAIL'],
      entries.map((e) => [
        e.updatedAt.replace('T', ' ').slice(0, 19),
        e.state,
        e.target,
        e.messageKey.slice(0, 16),
        e.reason ?? e.error ?? e.feedback ?? e.sesMessageId ?? '',
      ]),
    );
  });

program
  .command('redrive')
  .description(
    'ingest stored messages that failed indexing again (the ingest dead letters), and send failed and parked forwards again (including those of a worker that died mid-send)',
  )
  .action(async () => {
    const { target, configuration } = globals();
    if (target === 'aws') {
      const ingest = await redriveIngestOnAws(configuration);
      console.log(`ingest dead letters: ${ingest.moving} moving back to the ingest queue`);
    }
    const report =
      target === 'aws'
        ? await redriveOnAws(configuration)
        : await withArchive(
            async (archive) => {
              const ingest = await redriveIngestLocally(archive, archiverHome());
              console.log(
                `ingest dead letters: ${ingest.redriven} archived, ${ingest.failed.length} still failing`,
              );
              for (const f of ingest.failed) console.log(`  failing: ${f.id}: ${f.reason}`);
              if (ingest.failed.length > 0) process.exitCode = 1;
              return redriveLocally(archive, configuration);
            },
            { forwarding: true },
          );
    console.log(`redriven ${report.requests}: ${report.sent} sent, ${report.failed} still failing`);
    for (const failure of report.failures) console.log(`  failing: ${failure}`);
    if (report.failed > 0) process.exitCode = 1;
  });

async function redriveLocally(archive: LocalArchive, config: ArchiverConfig) {
  const forwarding = archive.forwarding;
  if (!forwarding) throw new Error('forwarding is not set up for this archive');
  const parking = new ParkedForwards(join(archiverHome(), 'forward-dead-letters'));
  const parked = parking.list();
  const requests = new Map<string, ForwardRequest>();
  for (const p of parked) requests.set(`${p.request.mailbox} ${p.request.messageKey}`, p.request);
  const now = new Date().toISOString();
  for (const mailbox of Object.keys(config.mailboxes)) {
    for await (const entry of archive.index.listForwards(mailbox)) {
      const stale = entry.state === 'sending' && (entry.leaseUntil ?? '') < now;
      if (entry.state === 'failed' || stale) {
        requests.set(`${entry.mailbox} ${entry.messageKey}`, {
          mailbox: entry.mailbox,
          messageKey: entry.messageKey,
        });
      }
    }
  }
  for (const p of parked) parking.remove(p.file);
  let sent = 0;
  const failures: string[] = [];
  for (const request of requests.values()) {
    // Handled like a queue delivery, with the redrive flag; what fails again is parked again.
    await forwarding.queue.process({ ...request, redrive: true });
    for await (const entry of archive.index.listForwards(request.mailbox)) {
      if (entry.messageKey !== request.messageKey) continue;
      if (entry.state === 'sent') sent += 1;
      else if (entry.state === 'failed') failures.push(`${entry.target} ${entry.messageKey}: ${entry.error}`);
    }
  }
  return { requests: requests.size, sent, failed: failures.length, failures };
}

program
  .command('reconcile')
  .description('compare the raw store, the index and the forwarding ledger; report anything missing from one')
  .option('--json', 'the report as JSON')
  .action(async (options: { json?: boolean }) => {
    const report = await withArchive((archive, config) =>
      reconcile({ config, store: archive.store, index: archive.index, bucket: archive.bucket }),
    );
    if (options.json) {
      process.stdout.write(`${JSON.stringify(report)}\n`);
    } else {
      console.log(
        `raw messages ${report.rawMessages}, index rows ${report.indexRows}, ledger entries ${report.ledgerEntries}: ${report.ok ? 'consistent' : 'NOT consistent'}`,
      );
      for (const key of report.notIndexed) console.log(`  not indexed: ${key} (run: mail-archiver reindex)`);
      for (const r of report.unrecorded)
        console.log(
          `  row no envelope sidecar records: ${r.mailbox} ${r.messageKey} (run: mail-archiver reindex)`,
        );
      for (const r of report.rawMissing)
        console.log(`  raw message missing: ${r.key} (${r.mailbox} ${r.messageKey})`);
      for (const f of report.notForwarded)
        console.log(`  never forwarded: ${f.mailbox} ${f.messageKey} -> ${f.target}`);
      for (const f of report.forwardsUnsettled) {
        console.log(
          `  forward ${f.state}: ${f.mailbox} ${f.messageKey} -> ${f.target} (run: mail-archiver redrive)`,
        );
      }
    }
    if (!report.ok) process.exitCode = 1;
  });

program
  .command('reindex')
  .description(
    'rebuild missing index rows from the raw store alone (UIDs restored from the envelope sidecars)',
  )
  .action(async () => {
    const report = await withArchive(
      (archive, config) =>
        reindex(
          {
            config,
            store: archive.store,
            index: archive.index,
            bucket: archive.bucket,
            ...(archive.forwarding ? { forwards: archive.forwarding.queue } : {}),
          },
          async (raw) => {
            const { headers } = await readMessageBytes(raw);
            return deriveRecipients(config, {}, headers);
          },
        ),
      { forwarding: true },
    );
    console.log(
      `examined ${report.examined} raw messages: restored ${report.restored} (${report.withoutEnvelope} without an envelope sidecar, given new UIDs), ${report.recorded} rows recorded in their sidecars, failed ${report.failed.length}`,
    );
    for (const f of report.failed) console.log(`  failed: ${f.key}: ${f.reason}`);
    if (report.failed.length > 0) process.exitCode = 1;
  });

registerRestore(program);

class UsageError extends Error {
  override name = 'UsageError';
}

function normaliseMailbox(mailbox: string): string {
  return mailbox === UNROUTED_MAILBOX ? mailbox : normaliseAddress(mailbox);
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new InvalidArgumentError('must be a port number');
  return port;
}

function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive whole number');
  return n;
}

function parseDate(value: string): Date {
  const date = new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new InvalidArgumentError('must be a date like 2026-01-31 or 2026-01-31T12:00:00Z');
  return date;
}

async function progressBar(total: number, label: string) {
  if (!process.stderr.isTTY || process.env.CI) return undefined;
  const { SingleBar, Presets } = await import('cli-progress');
  const bar = new SingleBar(
    { stream: process.stderr, format: `${label} [{bar}] {percentage}% | {counts}`, hideCursor: true },
    Presets.shades_classic,
  );
  bar.start(Math.max(total, 1), 0, { counts: '' });
  return bar;
}

/** Progress of an import by input bytes, with messages per second and the time left. */
async function importProgressBar(total: number) {
  if (!process.stderr.isTTY || process.env.CI) return undefined;
  const { SingleBar, Presets } = await import('cli-progress');
  const bar = new SingleBar(
    {
      stream: process.stderr,
      format: 'importing [{bar}] {percentage}% | {rate} msg/s | ETA {eta_formatted} | {counts}',
      hideCursor: true,
      etaBuffer: 200,
    },
    Presets.shades_classic,
  );
  bar.start(Math.max(total, 1), 0, { rate: '0', counts: '' });
  return bar;
}

function printReport(report: ImportReport) {
  const mailboxes = Object.entries(report.mailboxes).sort(([a], [b]) => (a < b ? -1 : 1));
  console.log(
    `archived ${report.archived}, already present ${report.duplicates}, failed ${report.failed.length}, skipped ${report.skipped.length} (not mail)`,
  );
  if (mailboxes.length > 1)
    for (const [mailbox, c] of mailboxes)
      console.log(
        `  ${mailbox}: archived ${c.archived}, already present ${c.duplicates}, failed ${c.failed}`,
      );
  const sources = Object.entries(report.receivedTimeSources).map(([source, n]) => `${source} ${n}`);
  if (sources.length) console.log(`  received time from: ${sources.join(', ')}`);
  for (const failure of report.failed) console.log(`  failed: ${failure.origin}: ${failure.reason}`);
  for (const skip of report.skipped) console.log(`  skipped: ${skip.origin}: ${skip.reason}`);
}

function printTable(header: string[], rows: string[][]) {
  const width = (i: number) => Math.min(60, Math.max(...[header, ...rows].map((r) => (r[i] ?? '').length)));
  const widths = header.map((_, i) => width(i));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => {
        const w = widths[i] ?? 10;
        const cell = c.length > w ? `${c.slice(0, w - 1)}…` : c;
        return i === cells.length - 1 ? cell : cell.padEnd(w);
      })
      .join('  ');
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}

function humanBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function directorySize(dir: string): number {
  let total = 0;
  try {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      total += entry.isDirectory() ? directorySize(path) : statSync(path).size;
    }
  } catch {
    // not created yet
  }
  return total;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (error) {
    process.stderr.write(`mail-archiver: ${describeError(error)}\n`);
    process.exitCode = process.exitCode || 1;
  }
}
