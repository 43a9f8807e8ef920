// Google Takeout mbox files: Takeout prepends `X-GM-THRID:` and `X-Gmail-Labels:` to every message. They are
// not part of the mail (without removing them the same message never matches its other copies), but the labels
// are the state the user kept: where the message was, whether it was read, starred, sent, spam or trash.
// Labels are comma-separated, quoted when they contain a comma (`"Work, old"`), and system labels are written
// in the account's language ("Gesendet", "Envoyés").
import { findLineEnd } from '../mail/lines';
import { type SpecialFolder, specialFolderOf } from './special-folders';

/** Removes the Takeout header fields from the head of a message; returns the rest and the labels. */
export function stripTakeoutHeaders(raw: Buffer): { raw: Buffer; labels: string[]; takeout: boolean } {
  let offset = 0;
  const labels: string[] = [];
  let takeout = false;
  for (;;) {
    const found = findLineEnd(raw, offset);
    if (!found) break;
    let next = found.next;
    // The field may be folded over several lines.
    for (;;) {
      const c = raw[next];
      if (c !== 32 && c !== 9) break;
      const more = findLineEnd(raw, next);
      if (!more) break;
      next = more.next;
    }
    const field = raw.toString('utf8', offset, next);
    const match = field.match(/^(X-GM-THRID|X-Gmail-Labels):[ \t]*([\s\S]*)$/i);
    if (!match) break;
    takeout = true;
    if (match[1]?.toLowerCase() === 'x-gmail-labels')
      labels.push(...splitLabels((match[2] ?? '').replace(/\r?\n|\r/g, '')));
    offset = next;
  }
  return { raw: offset ? raw.subarray(offset) : raw, labels, takeout };
}

/** `Inbox,"Work, old",Category Updates` -> `["Inbox", "Work, old", "Category Updates"]`. */
export function splitLabels(value: string): string[] {
  const labels: string[] = [];
  let current = '';
  let quoted = false;
  let wasQuoted = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] as string;
    if (quoted) {
      if (ch === '\\' && i + 1 < value.length) current += value[++i];
      else if (ch === '"') quoted = false;
      else current += ch;
    } else if (ch === '"') {
      quoted = true;
      wasQuoted = true;
    } else if (ch === ',') {
      push();
    } else current += ch;
  }
  push();
  return labels;

  function push() {
    const label = wasQuoted ? current : current.trim();
    if (label.trim()) labels.push(label.trim());
    current = '';
    wasQuoted = false;
  }
}

/** Gmail system labels that are states, not places: never a folder. */
type StateLabel = 'Starred' | 'Important' | 'Unread' | 'Opened' | 'Archived' | 'Chat' | 'Category';

const STATE_LABELS: Readonly<Record<string, StateLabel>> = {
  starred: 'Starred',
  markiert: 'Starred',
  'mit stern': 'Starred',
  suivis: 'Starred',
  'messages suivis': 'Starred',
  destacados: 'Starred',
  speciali: 'Starred',
  'com estrela': 'Starred',
  'met ster': 'Starred',
  stjärnmärkta: 'Starred',
  помеченные: 'Starred',
  スター付き: 'Starred',
  important: 'Important',
  wichtig: 'Important',
  importants: 'Important',
  importantes: 'Important',
  importante: 'Important',
  importanti: 'Important',
  belangrijk: 'Important',
  viktigt: 'Important',
  важные: 'Important',
  重要: 'Important',
  unread: 'Unread',
  ungelesen: 'Unread',
  'non lus': 'Unread',
  'non lu': 'Unread',
  'no leídos': 'Unread',
  'da leggere': 'Unread',
  'non letti': 'Unread',
  'não lidas': 'Unread',
  ongelezen: 'Unread',
  olästa: 'Unread',
  непрочитанные: 'Unread',
  未読: 'Unread',
  opened: 'Opened',
  geöffnet: 'Opened',
  ouverts: 'Opened',
  abiertos: 'Opened',
  archived: 'Archived',
  archiviert: 'Archived',
  archivés: 'Archived',
  archivados: 'Archived',
  chat: 'Chat',
  chats: 'Chat',
};

function stateLabel(label: string): StateLabel | undefined {
  const key = label.normalize('NFC').trim().toLowerCase();
  if (/^(category|kategorie|catégorie|categoría|categoria|categorie)\b/.test(key)) return 'Category';
  return STATE_LABELS[key];
}

export interface LabelPlacement {
  /** The one folder the message is filed in. */
  folder: string;
  flags: string[];
  /** Every label as written: nothing the user organised is lost. */
  keywords: string[];
  /** The labels say the account sent it. */
  sent: boolean;
}

/** The folder of messages that carry no place label (Gmail's "archived": in All Mail only). */
export const ARCHIVE_FOLDER = 'Archive';

const SPECIAL_RANK: Readonly<Record<SpecialFolder, number>> = {
  Trash: 0,
  Junk: 1,
  Drafts: 2,
  Sent: 3,
  INBOX: 5,
};

/**
 * Where a Takeout message belongs, from its labels. Filed once, in the most specific place: Trash, then Spam
 * (Junk), then Drafts, then Sent, then a user label (the deepest, `A/B/C` before `A`; the first listed among
 * equals), then Inbox, else the archive folder. Starred -> \Flagged; no Unread label -> \Seen; Draft -> \Draft;
 * Sent -> \Seen. State labels (Important, Opened, Category ...) are keywords only.
 */
export function placeByLabels(labels: readonly string[]): LabelPlacement {
  let best: { rank: number; depth: number; folder: string } | undefined;
  const flags = new Set<string>();
  let unread = false;
  let sent = false;
  for (const label of labels) {
    const state = stateLabel(label);
    if (state === 'Starred') flags.add('\\Flagged');
    if (state === 'Unread') unread = true;
    if (state) continue;
    const special = specialFolderOf(label);
    if (special === 'Sent') sent = true;
    if (special === 'Drafts') flags.add('\\Draft');
    const folder = special ?? label.replace(/^\[(?:gmail|google mail)\]\//i, '');
    const depth = special ? 0 : folder.split('/').length;
    const rank = special ? SPECIAL_RANK[special] : 4;
    if (!best || rank < best.rank || (rank === best.rank && depth > best.depth))
      best = { rank, depth, folder };
  }
  if (!unread || sent) flags.add('\\Seen');
  return {
    folder: best?.folder ?? ARCHIVE_FOLDER,
    flags: [...flags].sort(),
    keywords: [...new Set(labels)],
    sent,
  };
}
