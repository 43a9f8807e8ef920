// `mail-archiver export`: a mailbox as a bundle file, built here or by the export Lambda; every part checked
// against the sha256 the exporter computed, then joined. The mailbox must exist and the destination be writable
// before anything starts; the bundle is written under a hidden temporary name and renamed only once checked, so
// a file under the final name is always whole; Ctrl-C removes the partial files (and the exporter its spool).
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { type Command, Option } from 'commander';
import { runExportJob } from '../../shared/bundle/export-job';
import { joinBundles } from '../../shared/bundle/join';
import type { BundleFormat } from '../../shared/bundle/manifest';
import { partSuffix } from '../../shared/index/schema';
import type { CliContext } from '../context';
import {
  addCleanup,
  handleInterruptionGracefully,
  InterruptedError,
  interruption,
} from '../process/interrupt';
import { normaliseMailbox, parsePositive } from '../process/options';
import { humanBytes, progressBar } from '../process/output';
import { out } from '../program';
import { exportOnAws } from '../target/aws';
import { assertWritableDestination, commitPending, discardPending, pendingPath } from '../target/bundle-file';
import { assertKnownMailbox } from '../target/mailboxes';

interface ExportOptions {
  out?: string;
  incremental?: boolean;
  format: BundleFormat;
  parts?: number;
}

export function registerExport(program: Command, ctx: CliContext): void {
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
    .action(async (mailbox: string, options: ExportOptions) => {
      const output = out();
      const { target, configuration } = ctx.globals();
      const request = {
        mailbox: normaliseMailbox(mailbox),
        format: options.format,
        incremental: Boolean(options.incremental),
      };
      await assertWritableDestination(options.out ?? `${request.mailbox}.tar.gz`);
      if (target === 'aws')
        await ctx.withArchive((archive, config) =>
          assertKnownMailbox(request.mailbox, config, archive.index),
        );
      const outFor = (exportId: string) => options.out ?? `${request.mailbox}-${exportId}.tar.gz`;
      const partPath = (exportId: string, part: number, count: number) =>
        pendingPath(`${outFor(exportId)}${partSuffix(part, count)}`);
      // Every temporary file goes when the command ends without committing it: error or Ctrl-C alike.
      const written = new Set<string>();
      const removeWritten = addCleanup(() => discardPending(...written));
      handleInterruptionGracefully();
      const streams = new Set<Writable>();
      const stopStreams = () => {
        for (const stream of streams) stream.destroy(interruption.reason as Error);
      };
      interruption.addEventListener('abort', stopStreams, { once: true });
      const bar = await progressBar(1, 'building');
      const progress = (done: number, total: number) => {
        bar?.setTotal(Math.max(total, 1));
        bar?.update(done, { counts: `${done}/${total} messages` });
      };
      try {
        const record =
          target === 'aws'
            ? await exportOnAws(
                configuration,
                { ...request, parts: options.parts },
                (exportId, part, count) => {
                  const path = partPath(exportId, part, count);
                  written.add(path);
                  return path;
                },
                progress,
              )
            : await ctx.withArchive(async (archive, config) => {
                await assertKnownMailbox(request.mailbox, config, archive.index);
                return runExportJob(
                  archive,
                  { ...request, parts: options.parts },
                  (exportId, part, count) => {
                    const path = partPath(exportId, part, count);
                    written.add(path);
                    output.detail(`writing ${path}`);
                    const stream = createWriteStream(path);
                    streams.add(stream);
                    return { key: path, stream, done: finished(stream) };
                  },
                  progress,
                );
              });
        bar?.stop();
        if (interruption.aborted) throw interruption.reason;
        const out = outFor(record.exportId);
        // Every part is checked against the sha256 the exporter computed before anything is called done.
        for (const [i, part] of record.parts.entries()) {
          const path = partPath(record.exportId, i, record.parts.length);
          const sha256 = await sha256File(path);
          if (sha256 !== part.sha256)
            throw new Error(`${path} does not match the bundle's sha256 (${sha256} != ${part.sha256})`);
        }
        const pending = pendingPath(out);
        if (record.parts.length > 1) {
          const paths = record.parts.map((_, i) => partPath(record.exportId, i, record.parts.length));
          written.add(pending);
          await joinBundles(
            paths.map((path) => async () => createReadStream(path)),
            createWriteStream(pending),
          );
          for (const path of paths) await rm(path);
        }
        const sha256 = await sha256File(pending);
        const bytes = (await stat(pending)).size;
        if (interruption.aborted) throw interruption.reason;
        await commitPending(pending, out);
        written.delete(pending);
        output.jsonLine({
          exportId: record.exportId,
          mailbox: request.mailbox,
          incremental: record.incremental,
          messages: record.messagesDone,
          file: out,
          bytes,
          sha256,
        });
        output.result(
          `${record.incremental ? 'incremental ' : ''}export ${record.exportId} of ${request.mailbox}: ${record.messagesDone} messages, ${humanBytes(bytes)}${record.parts.length > 1 ? ` (built in ${record.parts.length} parts, joined)` : ''}\n  ${out}  sha256 ${sha256} (checked)`,
        );
        if (options.incremental && !record.incremental) {
          output.info('  (no earlier export of this mailbox: this one is full)');
        }
      } catch (error) {
        bar?.stop();
        if (interruption.aborted) {
          await discardPending(...written);
          output.warn(
            'export interrupted: the partial bundle was removed; nothing was written under the final name',
          );
          throw new InterruptedError((interruption.reason as InterruptedError).signal);
        }
        throw error;
      } finally {
        interruption.removeEventListener('abort', stopStreams);
        removeWritten();
        await discardPending(...written);
      }
    });
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
