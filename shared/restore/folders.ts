// Bundle folders -> folders on the target: which existing folder takes a bundle folder (special use, INBOX, the
// server's namespace and delimiter), and creating one the server lacks.
import type { ImapFlow } from 'imapflow';
import { TargetRefusedError } from './errors';
import type { FolderRun } from './plan';
import { explainCommandError, isCommandAnswer, serverWords } from './refusals';

const SPECIAL_USE: Record<string, string> = {
  sent: '\\Sent',
  junk: '\\Junk',
  drafts: '\\Drafts',
  trash: '\\Trash',
};

/**
 * Bundle folder -> target path. Sent, Junk, Drafts and Trash go to the folder the server marks with that
 * special-use attribute (RFC 6154; the server's LIST flags, never a guess from names); INBOX is INBOX; any other
 * folder keeps its name, levels joined with the server's delimiter under its personal namespace prefix.
 */
export async function mapFolders(client: ImapFlow, folders: string[]): Promise<Map<string, string>> {
  const listed = await client.list();
  const delimiter = client.namespace?.delimiter || listed[0]?.delimiter || '/';
  const prefix = client.namespace?.prefix ?? '';
  const out = new Map<string, string>();
  for (const folder of folders) {
    if (folder.toUpperCase() === 'INBOX') {
      out.set(folder, 'INBOX');
      continue;
    }
    const use = SPECIAL_USE[folder.toLowerCase()];
    const special = use && listed.find((l) => l.flags.has(use));
    if (special) {
      out.set(folder, special.path);
      continue;
    }
    const levels = folder.split('/').map((level) => level.split(delimiter).join('_'));
    out.set(folder, `${prefix}${levels.join(delimiter)}`);
  }
  return out;
}

/**
 * CREATE of a bundle folder's target. Some servers refuse characters in a name (Dovecot with a maildir and the
 * "/" separator refuses ".": `NO [CANNOT] Character not allowed in mailbox name: '.'`); the name is then tried
 * once with "." written as "_" in each level (as the exporter names such a folder in its own Maildir), so a
 * later run maps it the same way (see {@link withoutDots}). Still refused: TargetRefusedError with the server's
 * words.
 */
export async function createFolder(client: ImapFlow, run: FolderRun, log?: (line: string) => void) {
  try {
    await client.mailboxCreate(run.target);
    return;
  } catch (error) {
    if (!isCommandAnswer(error) || !run.target.includes('.')) throw explainCommandError(error);
    const alternative = withoutDots(run.target, client.namespace?.delimiter || '/');
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

/** A folder path with "." written as "_" in every level (the delimiter itself is kept). */
export function withoutDots(path: string, delimiter: string): string {
  return path
    .split(delimiter)
    .map((level) => level.replaceAll('.', '_'))
    .join(delimiter);
}
