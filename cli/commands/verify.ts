// `mail-archiver verify`: a bundle (or an unpacked bundle directory) re-hashed against its manifest, and the
// maildir rules checked. A missing file, a directory and a file that is no bundle are told apart up front.
// With --checkpoint and --key, every message is also proven against the transparency log, offline: its leaf is
// included under a signed checkpoint the user kept (docs/transparency.md); a replica's mailbox directory is also
// proven complete, against the copy of the log `sync` keeps beside it.
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { DirectoryWriteOnceStore } from '../../shared/adapters/dir-write-once-store';
import { openBundle } from '../../shared/bundle/source';
import { verifyBundle } from '../../shared/bundle/verify';
import { REPLICA_STATE_DIR, replicaPaths } from '../../shared/replica/state';
import { readLeafDelivery } from '../../shared/transparency/leaf';
import {
  checkBundleTransparency,
  checkReplicaTransparency,
  type TrustFiles,
} from '../../shared/transparency/verify-bundle';
import { fileProblem, UserError } from '../process/output';
import { out } from '../program';
import { bundleAt } from '../target/bundle-file';
import { addIdentityOption, bundleKeys } from '../target/bundle-keys';

interface VerifyOptions {
  checkpoint?: string;
  key?: string;
  previous?: string;
  tsaCa?: string;
  identity?: string[];
}

export function registerVerify(program: Command): void {
  addIdentityOption(program.command('verify'))
    .description(
      're-hash every message of a bundle against its manifest and check the maildir rules; with --checkpoint and --key, prove every message against the transparency log, offline (a replica mailbox: also that none is missing)',
    )
    .argument(
      '<bundle>',
      'bundle file (.tar.gz, or .tar.gz.age: decrypted as it is read), or the directory it was unpacked into',
    )
    .option('--checkpoint <file>', 'a checkpoint you kept (the file, or the mail that brought it)')
    .option('--key <file>', "the log's public key (key.pub from `seal --out` or `doctor`)")
    .option('--previous <file>', 'an older checkpoint: also prove the log only grew since')
    .option(
      '--tsa-ca <file>',
      "the timestamp authority's CA certificate: also check the checkpoint's time-stamp",
    )
    .action(async (bundle: string, options: VerifyOptions) => {
      const output = out();
      const trust = await trustFiles(options);
      const keys = await bundleKeys(options.identity);
      // proofs.jsonl (about 1 KB a message) is spooled to a private directory when it is to be checked, and
      // drained unread when not: never held whole.
      const spool = trust ? await mkdtemp(join(tmpdir(), 'mail-archiver-verify-proofs-')) : undefined;
      let report: Awaited<ReturnType<typeof verifyBundle>>;
      let proof:
        | Awaited<ReturnType<typeof checkReplicaTransparency | typeof checkBundleTransparency>>
        | undefined;
      // A replica's mailbox (sync's DIR/<mailbox>) is proven complete against the log copy kept beside it.
      const replicaLog = trust && (await replicaLogOf(bundle));
      try {
        report = await verifyBundle(openBundle(await bundleAt(bundle, { keys })), undefined, {
          keepProofs: spool ?? false,
        });
        proof =
          trust && report.manifest
            ? replicaLog
              ? await checkReplicaTransparency(report, trust, replicaLog, (m) =>
                  stat(join(bundle, m.file)).then(
                    (info) => info.isFile(),
                    () => false,
                  ),
                )
              : await checkBundleTransparency(report, trust, readLeafDelivery)
            : undefined;
      } finally {
        if (spool) await rm(spool, { recursive: true, force: true });
      }
      const unsealed = proof && 'unsealed' in proof ? proof.unsealed : undefined;
      const errors = [...report.errors, ...(proof?.errors ?? [])];
      const ok = errors.length === 0;
      output.jsonLine({
        bundle,
        ok,
        messages: report.messages,
        errors,
        ...(proof
          ? {
              transparency: {
                proven: proof.proven,
                ...(proof.checkpoint
                  ? { origin: proof.checkpoint.origin, treeSize: proof.checkpoint.size }
                  : {}),
                ...(proof.timestamp ? { timestamp: proof.timestamp } : {}),
                ...(replicaLog ? { replica: true, unsealed } : {}),
              },
            }
          : {}),
        ...(report.manifest ? { manifest: report.manifest } : {}),
      });
      if (ok) {
        output.result(`${bundle}: OK, ${report.messages} messages match the manifest and the maildir rules`);
        if (proof?.checkpoint && replicaLog)
          output.result(
            `  and it is complete: every delivery of ${report.manifest?.mailbox} in the transparency log of ${proof.checkpoint.origin} up to its checkpoint of ${proof.checkpoint.size} (the replica's newest, extending the checkpoint given${options.previous ? ' and the previous one' : ''}) is here with the bytes received${unsealed ? `; ${unsealed} newer message${unsealed === 1 ? ' is' : 's are'} not sealed yet` : ''}${proof.timestamp ? `, time-stamped ${proof.timestamp.time}` : ''}`,
          );
        else if (proof?.checkpoint)
          output.result(
            `  and each is in the transparency log of ${proof.checkpoint.origin}, proven against its signed checkpoint of ${proof.checkpoint.size} deliveries${options.previous ? ', which extends the previous one' : ''}${proof.timestamp ? `, time-stamped ${proof.timestamp.time}` : ''}`,
          );
        return;
      }
      output.result(`${bundle}: ${errors.length} ${errors.length === 1 ? 'problem' : 'problems'}`);
      for (const error of errors) output.result(`  ${error}`);
      process.exitCode = 1;
    });
}

/** The replica's copy of the transparency log, when `path` is a mailbox directory of a `sync` replica. */
async function replicaLogOf(path: string): Promise<DirectoryWriteOnceStore | undefined> {
  const dir = dirname(resolve(path));
  const isReplica = await Promise.all([stat(path), stat(join(dir, REPLICA_STATE_DIR))]).then(
    ([mailbox, state]) => mailbox.isDirectory() && state.isDirectory(),
    () => false,
  );
  return isReplica ? new DirectoryWriteOnceStore(replicaPaths(dir).transparency) : undefined;
}

/** The files the user named, read; undefined without --checkpoint. Throws UserError for a missing pairing or file. */
async function trustFiles(options: VerifyOptions): Promise<TrustFiles | undefined> {
  if (!options.checkpoint) {
    const orphan = [
      options.key && '--key',
      options.previous && '--previous',
      options.tsaCa && '--tsa-ca',
    ].filter(Boolean);
    if (orphan.length > 0)
      throw new UserError(`${orphan.join(', ')} ${orphan.length === 1 ? 'needs' : 'need'} --checkpoint`, {
        hint: 'give the checkpoint to prove against: verify BUNDLE --checkpoint FILE --key FILE',
      });
    return undefined;
  }
  if (!options.key)
    throw new UserError('--checkpoint needs --key: the public key of the log that signed it', {
      hint: 'key.pub is written by `mail-archiver seal --out DIR` and printed by `mail-archiver doctor`',
    });
  const read = async (path: string, flag: string) => {
    let bytes: Buffer;
    try {
      bytes = await readAtMost(path, MAX_TRUST_FILE_BYTES + 1);
    } catch (error) {
      throw new UserError(`cannot read ${path} (${flag}): ${fileProblem(error)}`, { cause: error });
    }
    if (bytes.length > MAX_TRUST_FILE_BYTES)
      throw new UserError(`${path} (${flag}): over 1 MiB, not a checkpoint, key or certificate`, {
        hint: 'give the checkpoint file (or the mail that brought it), key.pub, or the CA certificate',
      });
    return bytes;
  };
  return {
    checkpoint: await read(options.checkpoint, '--checkpoint'),
    key: await read(options.key, '--key'),
    ...(options.previous ? { previous: await read(options.previous, '--previous') } : {}),
    ...(options.tsaCa ? { tsaCa: await read(options.tsaCa, '--tsa-ca') } : {}),
  };
}

/**
 * A checkpoint, the mail that brought one, a key or a CA certificate is a few KB: a file the user names is read
 * up to this many bytes, so a huge file or an endless device (/dev/zero) is refused instead of filling memory.
 */
const MAX_TRUST_FILE_BYTES = 1024 * 1024;

/** The first `limit` bytes of a file (all of it when shorter). Throws the file system's error. */
async function readAtMost(path: string, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of createReadStream(path, { start: 0, end: limit - 1 }))
    chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
