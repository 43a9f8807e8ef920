// `mail-archiver export`: a mailbox as a bundle file, built here or by the export Lambda; every part checked
// against the sha256 the exporter computed, then joined.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import { type Command, Option } from 'commander';
import { partSuffix, runExportJob } from '../../shared/bundle/export-job';
import { joinBundles } from '../../shared/bundle/join';
import type { BundleFormat } from '../../shared/bundle/manifest';
import { exportOnAws } from '../aws-target';
import type { CliContext } from '../context';
import { normaliseMailbox, parsePositive } from '../options';
import { humanBytes, progressBar } from '../output';

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
      const { target, configuration } = ctx.globals();
      const request = {
        mailbox: normaliseMailbox(mailbox),
        format: options.format,
        incremental: Boolean(options.incremental),
      };
      const outFor = (exportId: string) => options.out ?? `${request.mailbox}-${exportId}.tar.gz`;
      const partPath = (exportId: string, part: number, count: number) =>
        `${outFor(exportId)}${partSuffix(part, count)}`;
      const bar = await progressBar(1, 'building');
      const progress = (done: number, total: number) => {
        bar?.setTotal(Math.max(total, 1));
        bar?.update(done, { counts: `${done}/${total} messages` });
      };
      const record =
        target === 'aws'
          ? await exportOnAws(configuration, { ...request, parts: options.parts }, partPath, progress)
          : await ctx.withArchive((archive) =>
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
    });
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
