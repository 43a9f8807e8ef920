// What the mbox copy of a message says about it, in the header fields its mail program or fetcher wrote: flags
// and keywords (mutt and neomutt, Dovecot's and UW-IMAP's mbox, Python's mailbox, Thunderbird) and the folder a
// fetcher took it from (getmail). The fields stay in the archived bytes; the content identity ignores them
// (shared/mail/content-identity.ts ContentHasher).
//
// | field              | written by                                  | read as                                         |
// |--------------------|---------------------------------------------|-------------------------------------------------|
// | Status             | mutt, neomutt, Dovecot, UW-IMAP, Python     | R: \Seen (O, "old", has no IMAP flag)           |
// | X-Status           | the same                                    | A: \Answered, F: \Flagged, T: \Draft, D: \Deleted |
// | X-Mozilla-Status   | Thunderbird, Netscape (hex)                 | 0x1 \Seen, 0x2 \Answered, 0x4 \Flagged, 0x8 \Deleted (expunged, not compacted), 0x1000 $Forwarded |
// | X-Keywords         | Dovecot, UW-IMAP (space or comma separated) | keywords                                        |
// | X-Mozilla-Keys     | Thunderbird                                 | keywords                                        |
// | Tags               | neomutt (the IMAP keywords of the message)  | keywords ($Forwarded: the flag)                 |
// | X-getmail-retrieved-from-mailbox | getmail6 (record_mailbox)     | the folder (RFC 2047 encoded when not ASCII)    |
// Sources: mutt's mbox(5) and parse.c, Dovecot's "mbox" documentation, Python's mailbox.mboxMessage,
// nsMsgMessageFlags.h, getmail6's retriever code.
import { decodeWords } from '../mail/charset';
import { fieldValue, splitHeaderBlock } from '../mail/header-block';
import { isInbox } from '../mail/inbox';

export interface MboxState {
  /** IMAP flags the fields give (sorted). */
  flags: string[];
  keywords: string[];
  /** The message carries a flag field (Status, X-Status or X-Mozilla-Status). */
  hasFlagFields: boolean;
  /** The folder levels a fetcher recorded (`['Work', 'Clients']`). */
  fetchedFrom?: string[];
}

const X_STATUS: Readonly<Record<string, string>> = {
  A: '\\Answered',
  F: '\\Flagged',
  T: '\\Draft',
  D: '\\Deleted',
};
const MOZILLA: readonly [number, string][] = [
  [0x1, '\\Seen'],
  [0x2, '\\Answered'],
  [0x4, '\\Flagged'],
  [0x8, '\\Deleted'],
  [0x1000, '$Forwarded'],
];
const MAX_KEYWORDS = 50;

/** The folder levels of an IMAP folder name as a fetcher recorded it (`Work/Clients`, Courier's `INBOX.Work`). */
export function folderLevels(name: string): string[] {
  if (name.includes('/')) return name.split('/');
  const levels = name.split('.');
  if (levels.length > 1 && isInbox(levels[0] as string)) return levels;
  return [name];
}

/** Reads the state fields of a message's top-level header block (see the table above). */
export function mboxStateOf(raw: Buffer): MboxState {
  const flags = new Set<string>();
  const keywords = new Set<string>();
  let hasFlagFields = false;
  let fetchedFrom: string[] | undefined;
  for (const field of splitHeaderBlock(raw).fields) {
    const name = field.name.toLowerCase();
    if (name === 'status') {
      hasFlagFields = true;
      if (fieldValue(field).includes('R')) flags.add('\\Seen');
    } else if (name === 'x-status') {
      hasFlagFields = true;
      for (const letter of fieldValue(field)) {
        const flag = X_STATUS[letter];
        if (flag) flags.add(flag);
      }
    } else if (name === 'x-mozilla-status') {
      const bits = Number.parseInt(fieldValue(field), 16);
      if (!Number.isFinite(bits)) continue;
      hasFlagFields = true;
      for (const [bit, flag] of MOZILLA) if (bits & bit) flags.add(flag);
    } else if (name === 'x-keywords' || name === 'x-mozilla-keys' || name === 'tags') {
      for (const word of fieldValue(field).split(/[\s,]+/)) {
        if (!word || word.length > 200) continue;
        if (word.toLowerCase() === '$forwarded') flags.add('$Forwarded');
        else if (keywords.size < MAX_KEYWORDS) keywords.add(word);
      }
    } else if (name === 'x-getmail-retrieved-from-mailbox' && !fetchedFrom) {
      const folder = decodeWords(fieldValue(field)).trim();
      if (folder) fetchedFrom = folderLevels(folder);
    }
  }
  return {
    flags: [...flags].sort(),
    keywords: [...keywords],
    hasFlagFields,
    ...(fetchedFrom ? { fetchedFrom } : {}),
  };
}
