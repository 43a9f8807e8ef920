// The special folders (RFC 6154 special use: Sent, Drafts, Junk, Trash) by the names mail programs give them
// in common languages, as found in Maildir++ folder names, IMAP copies and Google Takeout's localised system
// labels. One list, used by the maildir reader and the Takeout label mapping. The archive files them under the
// names Dovecot's stock configuration marks as special: `Sent`, `Drafts`, `Junk`, `Trash`.
import { INBOX, isInbox } from '../mail/inbox';

export type SpecialFolder = 'INBOX' | 'Sent' | 'Drafts' | 'Junk' | 'Trash';

const NAMES: Readonly<Record<SpecialFolder, readonly string[]>> = {
  INBOX: [
    'inbox',
    'posteingang',
    'boîte de réception',
    'boite de reception',
    'bandeja de entrada',
    'recibidos',
    'posta in arrivo',
    'caixa de entrada',
    'postvak in',
    'inkorgen',
    'innboks',
    'indbakke',
    'saapuneet',
    'odebrane',
    'doručená pošta',
    'входящие',
    '受信トレイ',
    '收件箱',
  ],
  Sent: [
    'sent',
    'sent mail',
    'sent items',
    'sent messages',
    'outbox sent',
    'gesendet',
    'gesendete objekte',
    'gesendete elemente',
    'gesendete nachrichten',
    'envoyés',
    'envoyes',
    'messages envoyés',
    'éléments envoyés',
    'elements envoyes',
    'enviados',
    'elementos enviados',
    'correo enviado',
    'enviadas',
    'inviata',
    'inviati',
    'posta inviata',
    'verzonden',
    'verzonden items',
    'skickat',
    'skickade',
    'skickade objekt',
    'sendt',
    'sendte elementer',
    'sendte',
    'lähetetyt',
    'wysłane',
    'elementy wysłane',
    'odeslané',
    'отправленные',
    '送信済み',
    '送信済みメール',
    '已发送',
    '寄件備份',
  ],
  Drafts: [
    'drafts',
    'draft',
    'entwürfe',
    'entwurf',
    'brouillons',
    'brouillon',
    'borradores',
    'borrador',
    'bozze',
    'rascunhos',
    'rascunho',
    'concepten',
    'utkast',
    'kladder',
    'luonnokset',
    'kopie robocze',
    'koncepty',
    'черновики',
    '下書き',
    '草稿',
  ],
  Junk: [
    'junk',
    'spam',
    'junk e-mail',
    'junk email',
    'junk mail',
    'bulk mail',
    'courrier indésirable',
    'courrier indesirable',
    'indésirables',
    'pourriel',
    'correo no deseado',
    'no deseado',
    'posta indesiderata',
    'lixo eletrônico',
    'ongewenste e-mail',
    'ongewenste mail',
    'skräppost',
    'uønsket e-post',
    'søppelpost',
    'uønsket post',
    'roskaposti',
    'wiadomości-śmieci',
    'nevyžádaná pošta',
    'спам',
    '迷惑メール',
    '垃圾邮件',
  ],
  Trash: [
    'trash',
    'bin',
    'deleted',
    'deleted items',
    'deleted messages',
    'papierkorb',
    'gelöschte objekte',
    'gelöschte elemente',
    'corbeille',
    'éléments supprimés',
    'elements supprimes',
    'papelera',
    'elementos eliminados',
    'cestino',
    'posta eliminata',
    'lixeira',
    'lixo',
    'itens excluídos',
    'prullenbak',
    'verwijderde items',
    'papperskorgen',
    'borttagna objekt',
    'papirkurv',
    'slettede elementer',
    'roskakori',
    'poistetut',
    'kosz',
    'elementy usunięte',
    'koš',
    'корзина',
    'удаленные',
    'ゴミ箱',
    '已删除',
  ],
};

const BY_NAME = new Map<string, SpecialFolder>();
for (const [folder, names] of Object.entries(NAMES) as [SpecialFolder, readonly string[]][])
  for (const name of names) BY_NAME.set(name.normalize('NFC'), folder);

/** Gmail's level above its system folders, in IMAP copies (`[Gmail]/Sent Mail`, `[Google Mail]/Sent Mail`). */
const GMAIL_LEVEL = /^\[(?:gmail|google mail)\]$/i;

/** A level providers file folders under: Gmail's, or INBOX (Courier's namespace: `INBOX.Sent`). */
const isProviderLevel = (level: string) => GMAIL_LEVEL.test(level) || isInbox(level);

/** The name without a provider's first level (`[Gmail]/Sent Mail` -> `Sent Mail`, `INBOX.Sent` -> `Sent`). */
function withoutProviderLevel(name: string): string {
  const first = /^[^/.]*[/.]/.exec(name)?.[0];
  return first && isProviderLevel(first.slice(0, -1)) ? name.slice(first.length) : name;
}

/**
 * The special folder a folder name means, in any of the common languages above (case and accents as
 * written, prefixes like `[Gmail]/` and `INBOX.` ignored), or undefined for an ordinary folder.
 */
export function specialFolderOf(name: string): SpecialFolder | undefined {
  const key = withoutProviderLevel(name.normalize('NFC').trim()).toLowerCase();
  return BY_NAME.get(key);
}

/**
 * The archive folder for a source's folder levels (`['Work', 'Clients']`): a leading `INBOX` level of a server
 * that files folders under it (Courier's `INBOX.Work`) and Gmail's `[Gmail]` level dropped; a first level that
 * names a special folder in a common language becomes its archive name (`Sent`, `Drafts`, `Junk`, `Trash`,
 * `INBOX`); levels joined by `/`. No level: INBOX.
 */
export function archiveFolder(levels: readonly string[]): string {
  const kept = levels.map((l) => l.trim()).filter((l) => l.length > 0 && !GMAIL_LEVEL.test(l));
  if (kept.length === 0) return INBOX;
  if (isInbox(kept[0] as string) && kept.length > 1) kept.shift();
  const special = specialFolderOf(kept[0] as string);
  if (special && kept.length === 1) return special;
  if (special && special !== 'INBOX') kept[0] = special;
  return kept.join('/');
}
