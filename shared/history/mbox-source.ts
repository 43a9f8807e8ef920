// An mbox file as a history source: its messages (shared/bundle/mbox-reader.ts), each placed where its source
// filed it: Google Takeout's labels, else the file's own name and directories (`Work.mbox`, Thunderbird's
// `Archives.sbd/2023`, Apple Mail's `Work.mbox/mbox`), or the folder getmail recorded where the file is its
// destination for several folders or is the INBOX; flags and keywords from the mbox state fields
// (shared/history/mbox-state.ts).
import { createReadStream } from 'node:fs';
import { basename, relative, resolve, sep } from 'node:path';
import { readMboxMessages } from '../bundle/mbox-reader';
import { looksLikeMail } from '../mail/header-block';
import { mboxStateOf } from './mbox-state';
import { NOT_MAIL, type SourceItem, type SourcePlacement, unreadable } from './source-items';
import { archiveFolder } from './special-folders';
import { placeByLabels, stripTakeoutHeaders } from './takeout';

const HEAD_BYTES = 64 * 1024;

/**
 * The archive folder an mbox file's path means: its name without `.mbox`/`.mbx`, under the directories between
 * the import root and it (Thunderbird's `.sbd` suffix dropped). Apple Mail exports `Work.mbox/mbox`: the
 * directory names the folder. mutt's `~/mbox`, a spool file (`/var/mail/<user>`) and a `.eml` file (one saved
 * message that begins with its envelope line) are INBOX, as a loose message file is. A special folder
 * name in a common language is that folder (`Sent`, `Gesendet`, `Drafts.mbox`).
 */
export function mboxFolderOf(path: string, root?: string): string {
  if (/^\/var\/(spool\/)?mail\/[^/]+$/.test(resolve(path))) return 'INBOX';
  // A saved message that begins with its envelope line is still a message file, filed where a loose .eml is.
  if (/\.eml$/i.test(path)) return 'INBOX';
  const rel = root ? relative(root, path) : '';
  const parts = (rel || basename(path)).split(sep).filter((p) => p.length > 0);
  let name = parts.pop() ?? '';
  const parent = parts[parts.length - 1];
  if (name === 'mbox' && parent && /\.mbox$/i.test(parent)) name = parts.pop() as string;
  else if (name.toLowerCase() === 'mbox' && parts.length === 0) return 'INBOX';
  const levels = [...parts.map((p) => p.replace(/\.(sbd|mbox)$/i, '')), name.replace(/\.(mbox|mbx)$/i, '')];
  return archiveFolder(levels);
}

/** Flags a file in a Sent or Drafts folder implies when its messages carry no flag fields. */
function impliedFlags(folder: string): string[] {
  return folder === 'Sent' || folder === 'Drafts' ? ['\\Seen'] : [];
}

/**
 * Every message of an mbox file, with what its source knew; chunks that are not mail are skipped, empty ones fail,
 * and every `From ` line that looked like a separator and was not taken is a notice.
 */
export async function* readMboxFile(
  path: string,
  context: { root?: string; mtime: Date; head?: Buffer },
): AsyncGenerator<SourceItem> {
  const fileFolder = mboxFolderOf(path, context.root);
  const fetcherWins =
    fileFolder === 'INBOX' ||
    (context.head !== undefined && (await fetchedFromSeveralFolders(path, context.head)));
  let count = 0;
  try {
    for await (const entry of readMboxMessages(createReadStream(path, { highWaterMark: 1 << 20 }))) {
      const origin = `${path}#${entry.position}`;
      if (entry.kind === 'notice') {
        yield {
          kind: 'notice',
          origin,
          reason: `line ${entry.line} ("${entry.text}") is not the start of a message: ${entry.reason}`,
          sourceBytes: 0,
        };
        continue;
      }
      count = entry.position;
      if (entry.kind === 'empty') {
        yield { kind: 'failure', origin, reason: 'empty message in mbox', sourceBytes: entry.sourceBytes };
        continue;
      }
      if (!looksLikeMail(entry.raw.subarray(0, HEAD_BYTES))) {
        yield { kind: 'skipped', origin, reason: NOT_MAIL, sourceBytes: entry.sourceBytes };
        continue;
      }
      yield {
        kind: 'message',
        raw: entry.raw,
        origin,
        ...(entry.envelope ? { envelope: entry.envelope } : {}),
        fileTime: context.mtime,
        placement: placementOf(entry.raw, fileFolder, fetcherWins),
        sourceBytes: entry.sourceBytes,
      };
    }
  } catch (error) {
    yield unreadable(`${path}#${count + 1}`, error);
  }
}

const FETCHED_FIELD = /^X-getmail-retrieved-from-mailbox:[ \t]*([^\r\n]*)/gim;

/**
 * Whether getmail fetched this file's messages from more than one folder (its `mailboxes = ALL` into one
 * destination): then the folder each message records is where it belongs, whatever the file is called. One
 * folder for all (a destination for INBOX, or messages the user filed into `Work.mbox` afterwards): the file's
 * own name is the more recent filing. Reads the file once more, only when its first message has the field.
 */
async function fetchedFromSeveralFolders(path: string, head: Buffer): Promise<boolean> {
  if (!/^X-getmail-retrieved-from-mailbox:/im.test(head.toString('latin1'))) return false;
  const folders = new Set<string>();
  let carry = '';
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    const text = carry + (chunk as Buffer).toString('latin1');
    for (const m of text.matchAll(FETCHED_FIELD)) folders.add((m[1] ?? '').trim());
    if (folders.size > 1) return true;
    carry = text.slice(-300);
  }
  return false;
}

function placementOf(raw: Buffer, fileFolder: string, fetcherWins: boolean): SourcePlacement {
  const takeout = stripTakeoutHeaders(raw);
  if (takeout.takeout) return placeByLabels(takeout.labels);
  const state = mboxStateOf(raw);
  const fetched = state.fetchedFrom && fetcherWins ? archiveFolder(state.fetchedFrom) : undefined;
  const folder = fetched ?? fileFolder;
  const implied = state.hasFlagFields || fetched ? [] : impliedFlags(folder);
  return {
    folder,
    flags: [...new Set([...implied, ...state.flags])].sort(),
    keywords: state.keywords,
    sent: folder === 'Sent',
  };
}
