// An mbox file as a history source: its messages (shared/bundle/mbox-reader.ts), each placed where its source
// filed it: Google Takeout's labels, else the file's own name and directories (`Work.mbox`, Thunderbird's
// `Archives.sbd/2023`, Apple Mail's `Work.mbox/mbox`), or the folder getmail recorded where the file is its
// destination for several folders or is the INBOX; a file named as one message's file that holds one message
// (`00001.7c53…` of a corpus, `inmail.17`, `saved.eml`) goes where a loose message file goes; flags and keywords
// from the mbox state fields (shared/history/mbox-state.ts).
import { createReadStream } from 'node:fs';
import { basename, relative, resolve, sep } from 'node:path';
import { readMboxMessages } from '../bundle/mbox-reader';
import { looksLikeMail } from '../mail/header-block';
import { mboxStateOf } from './mbox-state';
import {
  NOT_MAIL,
  type SourceItem,
  type SourceMessage,
  type SourcePlacement,
  unreadable,
} from './source-items';
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

/**
 * Whether a file's name is one a program gives a file that holds ONE message, rather than one a person or a mail
 * program gives a folder: a number and a dot first (the SpamAssassin corpus's `00001.7c53336b…`, the Enron
 * corpus's `1.`, a maildir file's `1700000000.M1P2.host:2,S` outside its `cur/`), a number last after a dot (the
 * TREC corpus's `inmail.17`), or a saved message's `.txt`/`.msg`. Folder names stay folders: `.mbox`/`.mbx`
 * files, anything under Thunderbird's `.sbd` (`Archives.sbd/2023`), and every other name (`Lists/ietf`,
 * `Travel 2019`, `2023`). A file so named that holds one message is filed as a loose message file is; one that
 * holds several is an mbox like any other. mutt, mb2md and Thunderbird are told that a file is a folder and read
 * it as one; an import reads files by what they are, and the one-message-per-file layouts (MH's `1`, `2`; maildir
 * names; the corpora) name their files by number, as mutt's and Python's MH readers recognise a message by its
 * numeric name. MH's bare numbers are left out: `2023` is as likely a folder, and MH keeps no envelope line.
 */
export function isMessageFileName(path: string): boolean {
  const parts = path.split(sep);
  const name = parts[parts.length - 1] ?? '';
  const parent = parts[parts.length - 2] ?? '';
  if (/\.sbd$/i.test(parent) || /\.(mbox|mbx)$/i.test(name)) return false;
  return /^\d+\./.test(name) || /\.\d+$/.test(name) || /\.(txt|msg)$/i.test(name);
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
  // A file named as one message's file is decided at its second message: until then its first is held.
  const decideAtSecond = fileFolder !== 'INBOX' && isMessageFileName(path);
  let held: SourceMessage | undefined;
  let messages = 0;
  const asFolder = (item: SourceMessage) => ({
    ...item,
    placement: placementOf(item.raw, fileFolder, fetcherWins),
  });
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
      const item: SourceMessage = {
        kind: 'message',
        raw: entry.raw,
        origin,
        ...(entry.envelope ? { envelope: entry.envelope } : {}),
        fileTime: context.mtime,
        sourceBytes: entry.sourceBytes,
      };
      messages += 1;
      if (decideAtSecond && messages === 1) {
        held = item;
        continue;
      }
      if (held) yield asFolder(held);
      held = undefined;
      yield asFolder(item);
    }
  } catch (error) {
    if (held) yield asFolder(held);
    held = undefined;
    yield unreadable(`${path}#${count + 1}`, error);
  }
  // One message in a file named as a message's file: filed where a loose message file is (INBOX, or Sent).
  if (held) yield { ...held, placement: placementOf(held.raw, 'INBOX', true) };
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
