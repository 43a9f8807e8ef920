// `mail-archiver seal [--out DIR]`: seals the transparency log now (docs/transparency.md): the delivery log's new
// records appended to the Merkle tree and its head signed as a checkpoint. Locally with the data directory's key
// file; with --target aws by the stack's seal function. --out keeps the checkpoint and the public key, the two
// files `verify --checkpoint --key` checks a bundle against.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { LogDamageError } from '../../shared/transparency/log-files';
import { describeMissingCheckpoint } from '../../shared/transparency/seal';
import type { CliContext } from '../context';
import { fileProblem, UserError } from '../process/output';
import { out } from '../program';
import type { SealResult } from '../target/operations';

/** The files `seal --out DIR` writes. */
export const CHECKPOINT_FILE = 'checkpoint';
export const KEY_FILE = 'key.pub';

export function registerSeal(program: Command, ctx: CliContext): void {
  program
    .command('seal')
    .description(
      "seal the transparency log now: append the delivery log's new records and sign a checkpoint of them all",
    )
    .option(
      '--out <dir>',
      'also write the signed checkpoint to DIR/checkpoint and the public key to DIR/key.pub',
    )
    .action(async (options: { out?: string }) => {
      const output = out();
      if (options.out) await prepareOut(options.out);
      const result = await (await ctx.operations())
        .seal({
          info: (line) => output.info(line),
          warn: (line) => output.warn(line),
        })
        .catch(plainLogDamage('nothing was sealed'));
      if (options.out) {
        await writeFile(join(options.out, CHECKPOINT_FILE), result.checkpoint);
        await writeFile(join(options.out, KEY_FILE), `${result.key}\n`);
      }
      printReport(result, options.out);
    });
}

/**
 * A damaged log (a file written over after its seal) said in one plain line with what to do, instead of a bug's
 * "--verbose for the details": it is a finding about the archive, like a failed verify. Rethrows anything else.
 */
export function plainLogDamage(outcome: string): (error: unknown) => never {
  return (error) => {
    if (error instanceof LogDamageError)
      throw new UserError(`the transparency log is damaged: ${error.message}`, {
        hint: `${outcome}; see docs/transparency.md#when-the-log-is-damaged`,
        cause: error,
      });
    throw error;
  };
}

async function prepareOut(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (error) {
    throw new UserError(`cannot write into ${dir} (--out): ${fileProblem(error)}`, { cause: error });
  }
}

function printReport(report: SealResult, dir: string | undefined): void {
  const output = out();
  const { checkpoint, ...facts } = report;
  output.jsonLine({ ...facts, checkpoint, ...(dir ? { out: dir } : {}) });
  const grown = report.size - report.previousSize;
  output.result(`sealed ${report.origin}: ${report.size} deliveries (${grown} new), root ${report.root}`);
  if (report.repeats > 0) output.detail(`  ${report.repeats} records repeat deliveries already sealed`);
  if (dir) output.result(`  checkpoint: ${join(dir, CHECKPOINT_FILE)}, public key: ${join(dir, KEY_FILE)}`);
  if (report.witnessedTo) output.result(`  checkpoint mailed to ${report.witnessedTo}`);
  if (report.timestamp) output.result(`  time-stamped ${report.timestamp.time}`);
  if (report.timestampError) output.warn(`no time-stamp: ${report.timestampError}`);
  if (report.missingCheckpoint) output.warn(describeMissingCheckpoint(report.missingCheckpoint));
  for (const line of report.unreadable.slice(0, 20)) output.warn(`not a delivery record: ${line}`);
  for (const line of report.conflicts.slice(0, 20))
    output.warn(`a record names other content for a sealed delivery: ${line}`);
  // Conflicts and a checkpoint gone are what an operator must look at (the tree keeps the delivery as first sealed;
  // who could delete in the log's bucket?).
  if (report.conflicts.length > 0 || report.missingCheckpoint) process.exitCode = 1;
}
