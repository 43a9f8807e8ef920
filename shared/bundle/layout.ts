// What one mailbox's maildir holds, whoever writes it: the exporter's tar stream (export.ts) and the replica that
// `mail-archiver sync` keeps on disk (shared/replica/) take every name, order and line from here, so that an
// unpacked bundle and a replica of the same mailbox at the same moment are the same tree. The format rules
// themselves (flag letters, S=/W=, uidlist syntax, folder directory names) are in maildir.ts.
import type { DeliveryRow } from '../index/schema';
import {
  courierUidDb,
  dovecotUidList,
  folderDirectory,
  folderWithAncestors,
  keywordAtom,
  keywordLetters,
  MAILDIR_ROOT,
  messageBaseName,
  messageFileName,
  storedForm,
} from './maildir';
import type { BundleFormat, BundleManifest, ManifestMessage } from './manifest';

/** What a maildir needs of an index row: a few hundred bytes, so that memory stays nearly flat with mailbox size. */
export type MaildirMessage = Pick<
  DeliveryRow,
  'folder' | 'uid' | 'sha256' | 'size' | 'receivedAt' | 'flags' | 'lineEndings' | 'messageKey' | 'location'
> & {
  /** The row's keywords as IMAP atoms (maildir.keywordAtom), each once. */
  keywords?: string[];
};

/** The part of a row a maildir uses, keywords made IMAP atoms. */
export function maildirMessage(row: DeliveryRow): MaildirMessage {
  const { folder, uid, sha256, size, receivedAt, flags, lineEndings, messageKey, location } = row;
  const keywords = keywordAtoms(row.keywords);
  return {
    folder,
    uid,
    sha256,
    size,
    receivedAt,
    flags,
    lineEndings,
    messageKey,
    location,
    ...(keywords ? { keywords } : {}),
  };
}

/** A row's keywords as IMAP atoms, each once, in the row's order; undefined when it has none. */
export function keywordAtoms(keywords: readonly string[] | undefined): string[] | undefined {
  return keywords?.length ? [...new Set(keywords.map(keywordAtom))] : undefined;
}

/**
 * The deterministic base name of a message's file (`<secs>.<messageKey>.mail-archiver,S=<size>,W=<vsize>`, what
 * the uidlists list): the same in every export, full or incremental, and in every replica.
 */
export function fileBaseName(
  message: Pick<MaildirMessage, 'size' | 'lineEndings' | 'receivedAt' | 'messageKey'>,
) {
  const form = storedForm(message.size, message.lineEndings);
  return messageBaseName({
    receivedAt: new Date(message.receivedAt),
    id: message.messageKey,
    fileSize: form.fileSize,
    virtualSize: form.virtualSize,
  });
}

/** How the file holds the original bytes: every CRLF written as LF, or exactly as archived (maildir.storedForm). */
export function messageStorage(
  message: Pick<MaildirMessage, 'size' | 'lineEndings'>,
): Exclude<ManifestMessage['storage'], 'mboxrd'> {
  return storedForm(message.size, message.lineEndings).convertCrlf ? 'crlf-to-lf' : 'as-is';
}

/** A folder's directory relative to the maildir root: '' for INBOX, `.Sent`, `.Archive.2023`. */
export const folderPath = folderDirectory;

/** A folder's directory inside a bundle (`Maildir`, `Maildir/.Sent`). */
export function bundleFolderPath(folder: string): string {
  return `${MAILDIR_ROOT}/${folderDirectory(folder)}`.replace(/\/$/, '');
}

/** A message's file relative to its folder directory: `cur/<base name>:2,<flag letters><keyword letters>`. */
export function messageFilePath(baseName: string, flags: readonly string[], keywordLetters: string): string {
  return `cur/${messageFileName(baseName, flags)}${keywordLetters}`;
}

/** The order folders are written in: INBOX first, then by name (UTF-16 code units, as JavaScript compares). */
export function compareFolders(a: string, b: string): number {
  if (a === b) return 0;
  if (a === 'INBOX') return -1;
  if (b === 'INBOX') return 1;
  return a < b ? -1 : 1;
}

/**
 * Every folder that must exist as a maildir, INBOX and each folder's ancestors included (a child without its
 * parent shows as \Noselect), in name order. Each gets cur/, new/, tmp/ and, except INBOX, a maildirfolder file.
 */
export function maildirSkeleton(folders: readonly string[]): string[] {
  const all = new Set<string>(['INBOX']);
  for (const folder of folders) for (const name of folderWithAncestors(folder)) all.add(name);
  return [...all].sort();
}

/** The subdirectories of every folder's maildir. */
export const FOLDER_SUBDIRECTORIES = ['cur', 'new', 'tmp'] as const;
/** The empty file that marks a Maildir++ folder other than INBOX. */
export const MAILDIR_FOLDER_FILE = 'maildirfolder';
/** A folder's uid files and keyword file. */
export const DOVECOT_UIDLIST = 'dovecot-uidlist';
export const COURIER_UIDDB = 'courierimapuiddb';
export const DOVECOT_KEYWORDS = 'dovecot-keywords';
/** The root's subscription files. */
export const DOVECOT_SUBSCRIPTIONS = 'subscriptions';
export const COURIER_SUBSCRIPTIONS = 'courierimapsubscribed';

/** The uid files of a folder: the header (its last UID + 1 as the next) and one line per message, by UID. */
export const uidFiles = {
  dovecotHeader: (uidValidity: number, lastUid: number) => dovecotUidList(uidValidity, lastUid + 1, []),
  courierHeader: (uidValidity: number, lastUid: number) => courierUidDb(uidValidity, lastUid + 1, []),
  dovecotLine: (uid: number, baseName: string) => `${uid} :${baseName}\n`,
  courierLine: (uid: number, baseName: string) => `${uid} ${baseName}\n`,
} as const;

/**
 * A folder's keywords in order of first use, its messages taken in UID order (dovecot-keywords and every file's
 * keyword letters follow this order). At most 26 (the letters a..z); later ones are only in the manifest.
 */
export class FolderKeywords {
  readonly keywords: string[] = [];

  /** Takes the next message's keywords (atoms), in UID order. */
  add(keywords: readonly string[] | undefined): void {
    for (const keyword of keywords ?? [])
      if (!this.keywords.includes(keyword) && this.keywords.length < 26) this.keywords.push(keyword);
  }

  /** The Dovecot keyword letters of a message's keywords (those past the 26th have none). */
  lettersOf(keywords: readonly string[] | undefined): string {
    return keywordLetters((keywords ?? []).map((k) => this.keywords.indexOf(k)));
  }
}

/** What a manifest entry needs of a message (a row's MaildirMessage, or a replica's delivery record). */
export interface ManifestSubject {
  folder: string;
  uid: number;
  sha256: string;
  size: number;
  receivedAt: string;
  flags: readonly string[];
  /** IMAP atoms (keywordAtoms). */
  keywords?: readonly string[] | undefined;
  nul?: boolean | undefined;
}

/** A message's entry in manifest.json (`file`: its path inside the bundle). */
export function manifestEntry(
  message: ManifestSubject,
  file: string,
  storage: ManifestMessage['storage'],
): ManifestMessage {
  return {
    folder: message.folder,
    uid: message.uid,
    file,
    sha256: message.sha256,
    size: message.size,
    storage,
    receivedAt: message.receivedAt,
    flags: message.keywords?.length ? [...message.flags, ...message.keywords] : [...message.flags],
    ...(message.nul ? { nul: true } : {}),
  };
}

/**
 * manifest.json's bytes, in three parts written in turn (its message list can be spooled): the opening, each
 * entry (`index` from 0), then the closing that holds every other field (JSON does not care about key order).
 */
export const manifestText = {
  opening: '{\n "messages": [',
  entry: (index: number, entry: ManifestMessage) => `${index ? ',' : ''}\n  ${JSON.stringify(entry)}`,
  closing: (header: Omit<BundleManifest, 'messages'>) => `\n ],${JSON.stringify(header, null, 1).slice(1)}\n`,
} as const;

/** The manifest's fields other than its message list, in the order they are written. */
export function manifestHeader(input: {
  mailbox: string;
  format: BundleFormat;
  createdAt: Date;
  after?: Record<string, number> | undefined;
  part?: { index: number; count: number } | undefined;
  folders: BundleManifest['folders'];
}): Omit<BundleManifest, 'messages'> {
  return {
    format: 'mail-archiver-bundle',
    version: 1,
    bundleFormat: input.format,
    mailbox: input.mailbox,
    createdAt: input.createdAt.toISOString(),
    incremental: input.after !== undefined,
    ...(input.after ? { after: input.after } : {}),
    ...(input.part ? { part: input.part } : {}),
    folders: input.folders,
  };
}
