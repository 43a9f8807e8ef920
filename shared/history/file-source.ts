// One file as a history source. Empty -> failed ("empty file"). Starting (after an optional byte order mark) with a
// `From ` line followed by a header field -> an mbox: one or more messages, each without its envelope line
// (shared/history/mbox-source.ts). Starting with header fields -> one message, its bytes exactly the file's (a byte
// order mark included). Anything else -> skipped ("not a mail message"), never silently.
import { open, readFile } from 'node:fs/promises';
import { startsLikeMbox } from '../bundle/mbox-reader';
import { looksLikeMail } from '../mail/header-block';
import { readMboxFile } from './mbox-source';
import { mboxStateOf } from './mbox-state';
import { EMPTY_FILE, NOT_MAIL, type SourceItem, type SourcePlacement, unreadable } from './source-items';
import { archiveFolder } from './special-folders';

const HEAD_BYTES = 64 * 1024;

export interface FileContext {
  /** The directory the user named, when the file was found inside it: an mbox's folder is its path from there. */
  root?: string;
  /** Where the source filed the file's message (a maildir folder and the flags of the file name). */
  placement?: SourcePlacement;
  /** Whether the file's time is the server's INTERNALDATE (maildir-source.ts keepsInternalDate). */
  keepsInternalDate?: (times: { mtime: Date; ctime: Date }) => boolean;
}

export async function* readFileSource(path: string, context: FileContext = {}): AsyncGenerator<SourceItem> {
  let head: Buffer;
  let size: number;
  let times: { mtime: Date; ctime: Date };
  try {
    const handle = await open(path);
    try {
      const info = await handle.stat();
      if (!info.isFile()) return;
      size = info.size;
      times = { mtime: info.mtime, ctime: info.ctime };
      const buffer = Buffer.alloc(Math.min(HEAD_BYTES, size));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      head = buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (error) {
    yield unreadable(path, error);
    return;
  }
  if (size === 0) {
    yield { kind: 'failure', origin: path, reason: EMPTY_FILE, sourceBytes: 0 };
    return;
  }
  if (startsLikeMbox(head)) {
    const where = { ...(context.root ? { root: context.root } : {}), mtime: times.mtime, head };
    for await (const item of readMboxFile(path, where))
      yield item.kind === 'message' && context.placement ? { ...item, placement: context.placement } : item;
    return;
  }
  if (!looksLikeMail(head)) {
    yield { kind: 'skipped', origin: path, reason: NOT_MAIL, sourceBytes: size };
    return;
  }
  let raw: Buffer;
  try {
    raw = await readFile(path);
  } catch (error) {
    yield unreadable(path, error);
    return;
  }
  const placement = fetchedPlacement(raw, context.placement);
  yield {
    kind: 'message',
    raw,
    origin: path,
    fileTime: times.mtime,
    ...(context.keepsInternalDate?.(times) ? { internalDate: times.mtime } : {}),
    ...(placement ? { placement } : {}),
    sourceBytes: size,
  };
}

/**
 * A message getmail fetched names the folder it came from: that is its folder when the file lies where a fetcher
 * delivers (a maildir's INBOX, or a loose file); in a folder of its own the user or a tool filed it since.
 */
function fetchedPlacement(raw: Buffer, placement: SourcePlacement | undefined): SourcePlacement | undefined {
  if (placement && placement.folder !== 'INBOX') return placement;
  const state = mboxStateOf(raw);
  if (!state.fetchedFrom) return placement;
  const folder = archiveFolder(state.fetchedFrom);
  return {
    folder,
    flags: placement ? placement.flags : state.flags,
    keywords: placement ? placement.keywords : state.keywords,
    sent: folder === 'Sent',
  };
}
