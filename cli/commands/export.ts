// `mail-archiver export`: a mailbox as a bundle file, built by the target (cli/target/operations.ts: in this
// process, or by the export Lambda); every part checked against the sha256 the exporter computed, then joined.
// The mailbox must exist and the destination be writable before anything starts; the bundle is written under a
// hidden temporary name and renamed only once checked, so a file under the final name is always whole; Ctrl-C
// removes the partial files (and the exporter its spool).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { type Command, Option } from 'commander';
import { joinBundles } from '../../shared/bundle/join';
import type { BundleFormat } from '../../shared/bundle/manifest';
import { partSuffix } from '../../shared/index/schema';
import { configuredMailbox } from '../../shared/receiving/routing';
import type { CliContext } from '../context';
import {
  addCleanup,
  handleInterruptionGracefully,
  InterruptedError,
  interruption,
} from '../process/interrupt';
import { normaliseMailbox, parsePositive } from '../process/options';
import { humanBytes } from '../process/output';
import { progressBar } from '../process/progress-bar';
import { out } from '../program';
import {
  assertWritableDestination,
  commitPending,
  discardPending,
  pendingPath,
  privateBundleStream,
} from '../target/bundle-file';
import { addEncryptionOptions, type EncryptionOptions, exportEncryption } from '../target/bundle-keys';
import { plainLogDamage } from './seal';

interface ExportOptions extends EncryptionOptions {
  out?: string;
  incremental?: boolean;
  format: BundleFormat;
  parts?: number;
}

export function registerExport(program: Command, ctx: CliContext): void {
  addEncryptionOptions(program.command('export'))
    .description(
      'export a mailbox as an IMAP-servable maildir bundle (tar.gz, or tar.gz.age encrypted with age), or as mboxrd',
    )
    .argument('<mailbox>', 'mailbox address')
    .option('--out <file>', 'bundle file (default: <mailbox>-<export id>.tar.gz, .tar.gz.age when encrypted)')
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
        // The configured mailbox in the spelling the config names it (its domain may be typed in either); the
        // export reads it as the archive names it (cli/target/mailboxes.ts knownMailbox): a mailbox kept only in
        // the index may be typed in either spelling too.
        mailbox:
          configuredMailbox(configuration.mailboxes, normaliseMailbox(mailbox)) ?? normaliseMailbox(mailbox),
        format: options.format,
        incremental: Boolean(options.incremental),
      };
      const encryption = await exportEncryption(options, configuration, target);
      const extension = encryption ? '.tar.gz.age' : '.tar.gz';
      await assertWritableDestination(options.out ?? `${request.mailbox}${extension}`);
      const operations = await ctx.operations();
      const outFor = (exportId: string) => options.out ?? `${request.mailbox}-${exportId}${extension}`;
      const partPath = (exportId: string, part: number, count: number) =>
        pendingPath(`${outFor(exportId)}${partSuffix(part, count)}`);
      // The parts of an encrypted export on AWS are each encrypted there; they cannot be joined here without a
      // key that opens them, so each is kept as a bundle of its own: NAME.part-n-of-count.tar.gz.age.
      const keptPartPath = (exportId: string, part: number, count: number) =>
        outFor(exportId).replace(/(\.tar\.gz\.age)?$/, `${partSuffix(part, count)}$1`);
      // Every temporary file goes when the command ends without committing it: error or Ctrl-C alike.
      const written = new Set<string>();
      const removeWritten = addCleanup(() => discardPending(...written));
      const interrupted =
        'export interrupted: the partial bundle was removed; nothing was written under the final name';
      let unwound = false;
      // Cut short by the grace period running out, the clean-up above removes what was written (a second Ctrl-C
      // exits at once: no clean-up runs).
      handleInterruptionGracefully(() => {
        if (!unwound) output.warn('export interrupted: nothing was written under the final name');
      });
      const bar = await progressBar(output, 'building [{bar}] {percentage}% | {counts}');
      bar?.update(0, 1, { counts: '' });
      const progress = (done: number, total: number) => {
        bar?.update(done, total, { counts: `${done}/${total} messages` });
      };
      try {
        const { record, partsEncrypted } = await operations
          .exportBundle(
            { ...request, parts: options.parts, ...(encryption ? { encryption } : {}) },
            (exportId, part, count) => {
              const path = partPath(exportId, part, count);
              written.add(path);
              output.detail(`writing ${path}`);
              return path;
            },
            progress,
            interruption,
          )
          .catch(plainLogDamage('nothing was exported'));
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
        if (partsEncrypted && record.parts.length > 1) {
          const kept: { file: string; bytes: number; sha256: string }[] = [];
          for (const [i, part] of record.parts.entries()) {
            const file = keptPartPath(record.exportId, i, record.parts.length);
            await commitPending(partPath(record.exportId, i, record.parts.length), file);
            kept.push({ file, bytes: part.bytes, sha256: part.sha256 });
          }
          output.jsonLine({
            exportId: record.exportId,
            mailbox: record.mailbox,
            incremental: record.incremental,
            messages: record.messagesDone,
            encrypted: true,
            parts: kept,
          });
          output.result(
            `${record.incremental ? 'incremental ' : ''}export ${record.exportId} of ${record.mailbox}: ${record.messagesDone} messages in ${kept.length} encrypted parts, each a bundle of its own (encrypted on AWS, so not joined here)\n${kept
              .map((k) => `  ${k.file}  ${humanBytes(k.bytes)}  sha256 ${k.sha256} (checked)`)
              .join('\n')}`,
          );
          return;
        }
        const pending = pendingPath(out);
        if (record.parts.length > 1) {
          const paths = record.parts.map((_, i) => partPath(record.exportId, i, record.parts.length));
          written.add(pending);
          // Plain parts built here: the joined bundle is encrypted as it is written.
          await joinBundles(
            paths.map((path) => async () => createReadStream(path)),
            privateBundleStream(pending),
            encryption,
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
          mailbox: record.mailbox,
          incremental: record.incremental,
          messages: record.messagesDone,
          file: out,
          bytes,
          sha256,
          encrypted: Boolean(encryption),
          ...(encryption && 'recipients' in encryption ? { recipients: encryption.recipients } : {}),
        });
        output.result(
          `${record.incremental ? 'incremental ' : ''}export ${record.exportId} of ${record.mailbox}: ${record.messagesDone} messages, ${humanBytes(bytes)}${record.parts.length > 1 ? ` (built in ${record.parts.length} parts, joined)` : ''}${encryption ? `, encrypted with age ${'recipients' in encryption ? `to ${encryption.recipients.length} ${encryption.recipients.length === 1 ? 'recipient' : 'recipients'}` : 'with a passphrase'}` : ''}\n  ${out}  sha256 ${sha256} (checked${encryption ? ': the hash of the encrypted file' : ''})`,
        );
        if (options.incremental && !record.incremental) {
          output.info('  (no earlier export of this mailbox: this one is full)');
        }
      } catch (error) {
        bar?.stop();
        if (interruption.aborted) {
          await discardPending(...written);
          unwound = true;
          output.warn(interrupted);
          throw new InterruptedError((interruption.reason as InterruptedError).signal);
        }
        throw error;
      } finally {
        unwound = true;
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
