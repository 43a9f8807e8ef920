// A mailbox named on the command line must exist: a typo in a disaster-recovery export must not produce an
// empty bundle that verifies. Known mailboxes are the configured ones, the unrouted mailbox, and any mailbox
// the index holds rows for (one removed from the config keeps its mail). A mailbox's domain may be typed in either
// spelling (alice@bücher.example for alice@xn--bcher-kva.example, or the reverse): it is the mailbox the archive
// keys under the spelling the config gives it (shared/mail/address.ts, routing.ts configuredMailbox).
import type { ArchiverConfig } from '../../shared/config';
import { sameAddress } from '../../shared/mail/address';
import { canonicalFolder } from '../../shared/mail/inbox';
import type { MailIndex } from '../../shared/ports';
import { configuredMailbox, ROUTED_FOLDERS, UNROUTED_MAILBOX } from '../../shared/receiving/routing';
import { UserError } from '../process/output';

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      current[j] = Math.min(
        (previous[j] ?? 0) + 1,
        (current[j - 1] ?? 0) + 1,
        (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/**
 * `mailbox` (normalised, as typed: its domain in either spelling) as the archive names it: the configured mailbox
 * it is, the unrouted mailbox, or a mailbox with rows in the index. What every command that takes a mailbox reads
 * it through. Throws UserError (exit 1) naming the configured mailboxes, and the nearest one when it looks like a
 * typo.
 */
export async function knownMailbox(
  mailbox: string,
  config: Pick<ArchiverConfig, 'mailboxes'>,
  index: Pick<MailIndex, 'mailboxes'>,
  /** What `index` lists, for the hint ("the index"; sync: "the replica"). */
  where = 'the index',
): Promise<string> {
  if (mailbox === UNROUTED_MAILBOX) return mailbox;
  const configured = Object.keys(config.mailboxes);
  const asConfigured = configuredMailbox(config.mailboxes, mailbox);
  if (asConfigured !== undefined) return asConfigured;
  const indexed = await index.mailboxes();
  const asIndexed = indexed.includes(mailbox) ? mailbox : indexed.find((m) => sameAddress(m, mailbox));
  if (asIndexed !== undefined) return asIndexed;
  const known = [...new Set([...configured, ...indexed])].sort();
  const nearest = known
    .map((m) => ({ m, d: distance(m, mailbox) }))
    .filter(({ d }) => d <= 3)
    .sort((a, b) => a.d - b.d)[0]?.m;
  throw new UserError(
    `no mailbox ${mailbox} in this archive${nearest ? ` (did you mean ${nearest}?)` : ''}`,
    {
      hint: `configured mailboxes: ${configured.join(', ')}${indexed.some((m) => !configured.includes(m)) ? `; also in ${where}: ${indexed.filter((m) => !configured.includes(m)).join(', ')}` : ''}`,
    },
  );
}

/**
 * The folder `folder` names in `mailbox` as the index keys it (INBOX in any case; other names exactly), read from
 * the folder items `status` counts. Throws UserError (exit 1, as for an unknown mailbox) naming the mailbox's
 * folders when it has none of that name: a typo'd folder is not "no messages match". The folders routing files
 * into are always accepted (every mailbox can hold them, also before their first message).
 */
export async function knownFolder(
  mailbox: string,
  folder: string,
  index: Pick<MailIndex, 'folders'>,
): Promise<string> {
  const name = canonicalFolder(folder);
  if ((ROUTED_FOLDERS as readonly string[]).includes(name)) return name;
  const folders = [
    ...new Set([...ROUTED_FOLDERS, ...(await index.folders(mailbox)).map((state) => state.folder)]),
  ].sort();
  if (folders.includes(name)) return name;
  const nearest = folders.find((f) => f.toLowerCase() === name.toLowerCase());
  throw new UserError(
    `no folder ${folder} in ${mailbox}${nearest ? ` (did you mean ${nearest}? folder names other than INBOX are case-sensitive)` : ''}`,
    { hint: `its folders: ${folders.join(', ')}` },
  );
}
