// The plan of a restore: which bundle folders, and per message what appending and checking it needs (its size and
// sha256 as IMAP carries it, flags, INTERNALDATE), with its state as the run goes on.
import { createHash } from 'node:crypto';
import type { BundleManifest, ManifestMessage } from '../bundle/manifest';
import type { BundleSource } from '../bundle/source';
import { canonicalFolder } from '../mail/inbox';
import { toImapLineEndings } from '../mail/lines';
import { asServersMayStore, type PossibleChanges, possibleChanges } from './altered';
import { readMessageFiles } from './bundle-files';
import { RestoreUnsupportedError } from './errors';
import type { FolderMatch } from './report';

/** One bundle message and what restoring it needs. */
export interface Planned {
  message: ManifestMessage;
  /** RFC822.SIZE once appended: the size of the message with CRLF line endings. */
  imapSize: number;
  /** Expected flags on the target: the manifest's flags, system flags and keywords alike. */
  flags: string[];
  internalDateSecs: number;
  state: 'pending' | 'there' | 'moved' | 'refused';
  targetUid?: number;
  /** Read from the bundle in this run. */
  read?: boolean;
  verified?: boolean;
  /** sha256 of the bytes as appended (bare CR and bare LF -> CRLF). */
  imapSha256: string;
  /** The same with NUL written as 0x80: what BODY[] serves from a server that cannot send NUL. */
  highBitSha256?: string;
  /** What a server may change as it stores the message (shared/restore/altered.ts). */
  changes: PossibleChanges;
  /** sha256 of the message with those changes made, where there are any: a changed copy has the same. */
  serverFormSha256?: string;
  /** Verified apart from what the server changed as it stored the message: the changes, in words. */
  altered?: string[];
}

/** One bundle folder on its way to the target. */
export interface FolderRun {
  name: string;
  target: string;
  /** How the target was chosen (shared/restore/folders.ts mapFolders). */
  match: FolderMatch;
  /** The special-use attribute the bundle folder stands for (`\\Sent`), where it has one. */
  use?: string;
  /** The target was created by this run (in a dry run: is missing, and would be). */
  created?: boolean;
  messages: Planned[];
  uidValidity?: bigint;
  /** Target UIDs already attributed to a bundle message. */
  claimed: Set<number>;
  /**
   * Target messages nobody claimed yet whose size is one a pending message may have on the server: size -> UID ->
   * sha256 of what the server serves, and of its {@link asServersMayStore} form.
   */
  unclaimed: Map<number, Map<number, { sha256: string; serverForm: string }>>;
}

/**
 * The bundle folders to restore: all, or those named in `only` (INBOX case-insensitive), in manifest order.
 * Throws RestoreUnsupportedError naming a folder the bundle does not have, with the ones it has.
 */
export function selectFolders(manifest: BundleManifest, only: string[] | undefined): string[] {
  const names = manifest.folders.map((f) => f.name);
  if (!only?.length) return names;
  const unknown = only.filter((o) => !names.some((n) => canonicalFolder(n) === canonicalFolder(o)));
  if (unknown.length)
    throw new RestoreUnsupportedError(
      `no folder ${unknown.map((u) => JSON.stringify(u)).join(', ')} in the bundle (it has: ${names.join(', ')})`,
    );
  return names.filter((n) => only.some((o) => canonicalFolder(o) === canonicalFolder(n)));
}

/**
 * A run per wanted folder with its messages in bundle order, every message measured by reading the bundle once:
 * size and sha256 as appended (the server check needs both). Throws RestoreUnsupportedError when a message of the
 * manifest is not in the bundle.
 */
export async function planRuns(
  manifest: BundleManifest,
  wanted: string[],
  source: BundleSource,
): Promise<Map<string, FolderRun>> {
  const runs = new Map<string, FolderRun>();
  for (const folder of wanted) {
    const messages = manifest.messages
      .filter((m) => m.folder === folder)
      .map(
        (message): Planned => ({
          message,
          imapSize: 0,
          imapSha256: '',
          flags: [...new Set(message.flags)],
          internalDateSecs: Math.floor(Date.parse(message.receivedAt) / 1000),
          state: 'pending',
          changes: { highBitHeaderBytes: 0, noFinalLineEnd: false },
        }),
      );
    runs.set(folder, {
      name: folder,
      target: folder,
      match: 'same name',
      messages,
      claimed: new Set(),
      unclaimed: new Map(),
    });
  }
  const byFile = new Map([...runs.values()].flatMap((r) => r.messages).map((p) => [p.message.file, p]));
  for await (const { file, bytes } of readMessageFiles(source, new Set(byFile.keys()))) {
    const planned = byFile.get(file);
    if (!planned) continue;
    const imapBytes = toImapLineEndings(bytes);
    planned.read = true;
    planned.imapSize = imapBytes.length;
    planned.imapSha256 = sha256(imapBytes);
    if (imapBytes.indexOf(0) >= 0) planned.highBitSha256 = sha256(nulAsHighBit(imapBytes));
    planned.changes = possibleChanges(imapBytes);
    const serverForm = asServersMayStore(imapBytes, planned.changes);
    if (serverForm !== imapBytes) planned.serverFormSha256 = sha256(serverForm);
  }
  const missing = [...byFile.values()].filter((p) => !p.read);
  if (missing.length > 0)
    throw new RestoreUnsupportedError(
      `${missing.length} messages of the manifest are not in the bundle (first: ${missing[0]?.message.file})`,
    );
  return runs;
}

/** The bytes with every NUL written as 0x80 (Dovecot serves NUL so when the client has no BINARY). */
function nulAsHighBit(bytes: Buffer): Buffer {
  if (bytes.indexOf(0) < 0) return bytes;
  const out = Buffer.from(bytes);
  for (let i = out.indexOf(0); i >= 0; i = out.indexOf(0, i + 1)) out[i] = 0x80;
  return out;
}

/** sha256 (hex) of bytes held in memory. */
export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
