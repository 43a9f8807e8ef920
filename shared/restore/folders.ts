// Bundle folders -> folders on the target: which existing folder takes a bundle folder (special use, INBOX, the
// server's namespace and delimiter), and creating one the server lacks.
import type { ImapFlow, ListResponse } from 'imapflow';
import { CONTROL_CHARACTERS } from '../mail/display-text';
import { INBOX, isInbox } from '../mail/inbox';
import { TargetRefusedError } from './errors';
import type { FolderRun } from './plan';
import { explainCommandError, isCommandAnswer, serverWords } from './refusals';
import type { FolderMatch } from './report';

/** Bundle folders with a special use (RFC 6154), by their name in lower case. */
const SPECIAL_USE: Record<string, string> = {
  sent: '\\Sent',
  junk: '\\Junk',
  drafts: '\\Drafts',
  trash: '\\Trash',
};

export interface FolderMapping {
  target: string;
  match: FolderMatch;
  /** The special-use attribute the bundle folder stands for (`\Sent`), where it has one. */
  use?: string;
}

/**
 * Bundle folder -> target path. Sent, Junk, Drafts and Trash go to the folder the server marks with that
 * special-use attribute (RFC 6154 section 2; attribute names compare case-insensitively, RFC 3501 section 9:
 * Cyrus lists `\sent`). Where no folder carries it (Courier has no SPECIAL-USE at all), to a top-level folder of
 * the personal namespace under a name providers use for it ("Sent Items", "Spam", "INBOX.Sent", "Deleted Items",
 * localized names: imapflow's table of them, `specialUseSource` 'name'). INBOX is INBOX. Any other folder keeps
 * its name, levels joined with the server's delimiter under its personal namespace prefix (Courier: `INBOX.`),
 * control characters left out (as in the bundle's Maildir).
 */
export async function mapFolders(client: ImapFlow, folders: string[]): Promise<Map<string, FolderMapping>> {
  const listed = await client.list();
  const delimiter = client.namespace?.delimiter || listed[0]?.delimiter || '/';
  const prefix = client.namespace?.prefix ?? '';
  const selectable = listed.filter(
    (l) => !hasAttribute(l, '\\Noselect') && !hasAttribute(l, '\\NonExistent'),
  );
  const out = new Map<string, FolderMapping>();
  for (const folder of folders) {
    if (isInbox(folder)) {
      out.set(folder, { target: INBOX, match: 'inbox' });
      continue;
    }
    const use = SPECIAL_USE[folder.toLowerCase()];
    if (use) {
      const marked = selectable
        .filter((l) => hasAttribute(l, use))
        .sort((a, b) => depth(a, delimiter) - depth(b, delimiter))[0];
      if (marked) {
        out.set(folder, { target: marked.path, match: 'special use', use });
        continue;
      }
      const named = selectable.find(
        (l) => l.specialUse === use && l.specialUseSource === 'name' && l.path === `${prefix}${l.name}`,
      );
      if (named) {
        out.set(folder, { target: named.path, match: 'provider name', use });
        continue;
      }
    }
    // Control characters leave the name, as they leave the bundle's own Maildir (bundle/maildir.ts folderLevels):
    // no IMAP string carries CR or LF (RFC 3501 section 4.3), and imapflow refuses to send them at all.
    const levels = folder
      .split('/')
      .map((level) => level.replace(CONTROL_CHARACTERS, '').split(delimiter).join('_'))
      .filter((level) => level.length > 0);
    if (levels.length === 0) levels.push('_');
    out.set(folder, {
      target: `${prefix}${levels.join(delimiter)}`,
      match: 'same name',
      ...(use ? { use } : {}),
    });
  }
  return out;
}

/** Whether a LIST entry carries an attribute; RFC 3501 section 9: attribute names are case-insensitive. */
function hasAttribute(entry: ListResponse, attribute: string): boolean {
  const wanted = attribute.toLowerCase();
  for (const flag of entry.flags) if (flag.toLowerCase() === wanted) return true;
  return false;
}

function depth(entry: ListResponse, delimiter: string): number {
  return entry.path.split(entry.delimiter || delimiter).length;
}

/**
 * CREATE of a bundle folder's target. Some servers refuse characters in a name (Dovecot with a maildir and the
 * "/" separator refuses ".": `NO [CANNOT] Character not allowed in mailbox name: '.'`; Cyrus refuses the LIST
 * wildcard "%" and a backslash: `NO Invalid mailbox name`); the name is then tried once in plain characters,
 * the others written as "_" in each level (as the exporter writes "." and "\" in its own Maildir), so a later
 * run maps it the same way (see {@link withoutDots}). Still refused: TargetRefusedError with the server's words.
 */
export async function createFolder(client: ImapFlow, run: FolderRun, log?: (line: string) => void) {
  try {
    await client.mailboxCreate(run.target);
    return;
  } catch (error) {
    const delimiter = client.namespace?.delimiter || '/';
    if (!isCommandAnswer(error) || withoutDots(run.target, delimiter) === run.target)
      throw explainCommandError(error);
    const alternative = withoutDots(run.target, delimiter);
    const listed = await client.list();
    if (!listed.some((l) => l.path === alternative)) {
      try {
        await client.mailboxCreate(alternative);
      } catch (second) {
        throw new TargetRefusedError(
          `the IMAP server refuses to create folder ${JSON.stringify(run.target)} (${serverWords(error)}) and ${JSON.stringify(alternative)} (${serverWords(second)}) for bundle folder ${JSON.stringify(run.name)}; restore the other folders with --folder`,
          { cause: second },
        );
      }
    }
    log?.(
      `folder ${JSON.stringify(run.name)}: the server refuses the name ${JSON.stringify(run.target)} (${serverWords(error)}); using ${JSON.stringify(alternative)}`,
    );
    run.target = alternative;
  }
}

/**
 * The fallback name of a folder the server refused to create: in every level (the delimiter itself is kept),
 * every character but letters, digits, marks, space and `-_'()+,#~@=&` written as "_". Servers differ in what
 * they refuse: Dovecot on maildir ".", Cyrus the LIST wildcards "%" (RFC 3501 section 6.3.8) and `\ " ! ^ | {`
 * (measured against Cyrus IMAP 3.6); a plain name is taken by all of them.
 */
export function withoutDots(path: string, delimiter: string): string {
  return path
    .split(delimiter)
    .map((level) => level.replace(/[^\p{L}\p{N}\p{M} _\-'()+,#~@=&]/gu, '_'))
    .join(delimiter);
}
