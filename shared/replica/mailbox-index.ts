// What a sync holds of a mailbox its replica keeps: for each folder, every message's UID, file base name, flags and
// keywords (each distinct list held once, a message naming it by number) and where its record's line is in the
// mailbox's journal, in typed arrays sorted by UID, about 150 bytes a message. The journal on disk (state.ts) stays
// the record of what was applied; this index is built from it once a run, for the mailboxes the run writes to, and
// the manifest is written by reading the journal's lines again in the index's order (mailbox-files.ts).
import { FolderKeywords, messageFilePath } from '../bundle/layout';
import { type DeliveryRecord, recordKeywordAtoms } from '../delivery-log/record';
import { readJournalLines } from './state';

/** Distinct values (flag lists, keyword lists) held once; a message names one by its number. */
class Interner<T> {
  private readonly ids = new Map<string, number>();
  readonly values: T[] = [];

  id(value: T): number {
    const key = JSON.stringify(value);
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.values.length;
      this.values.push(value);
      this.ids.set(key, id);
    }
    return id;
  }
}

/** One message as the index takes it: its record and where the record's line is in the journal. */
export interface IndexEntry {
  record: Pick<DeliveryRecord, 'uid' | 'file' | 'flags' | 'keywords'>;
  /** Byte offset of the line in the journal, and its length in bytes without the LF (-1: not journaled yet). */
  offset: number;
  length: number;
}

/** A folder's keyword order (dovecot-keywords) and each keyword list's letters under it. */
export interface KeywordTable {
  keywords: string[];
  lettersOf: (keywordId: number) => string;
}

const grow = <T extends Uint32Array | Float64Array | Uint16Array>(array: T, size: number): T => {
  if (array.length >= size) return array;
  const next = new (array.constructor as new (n: number) => T)(Math.max(size, array.length * 2));
  next.set(array);
  return next;
};

/** The messages of one folder, sorted by UID, under the folder's UIDVALIDITY. */
export class FolderIndex {
  count = 0;
  private uids = new Uint32Array(64);
  private offsets = new Float64Array(64);
  private lengths = new Uint32Array(64);
  private flagIds = new Uint16Array(64);
  private keywordIds = new Uint32Array(64);
  private names: string[] = [];
  private readonly flagLists = new Interner<readonly string[]>();
  /** Keyword lists as IMAP atoms (recordKeywordAtoms); id 0 is the empty list. */
  private readonly keywordLists = new Interner<readonly string[]>();

  constructor(readonly uidValidity: number) {
    this.keywordLists.id([]);
  }

  /** The position of `uid`, or -1 when the folder does not hold it. */
  find(uid: number): number {
    let low = 0;
    let high = this.count - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const at = this.uids[mid] as number;
      if (at === uid) return mid;
      if (at < uid) low = mid + 1;
      else high = mid - 1;
    }
    return -1;
  }

  uid(i: number): number {
    return this.uids[i] as number;
  }

  file(i: number): string {
    return this.names[i] as string;
  }

  /** Where message `i`'s record is in the journal: byte offset and length (without the LF). */
  line(i: number): { offset: number; length: number } {
    return { offset: this.offsets[i] as number, length: this.lengths[i] as number };
  }

  get lastUid(): number {
    return this.count > 0 ? (this.uids[this.count - 1] as number) : 0;
  }

  /** Adds messages (any order); a UID the folder holds is replaced (the later record wins, as in the journal). */
  add(entries: readonly IndexEntry[]): void {
    const fresh: IndexEntry[] = [];
    for (const entry of entries) {
      const at = this.find(entry.record.uid);
      if (at >= 0) this.set(at, entry);
      else fresh.push(entry);
    }
    if (fresh.length === 0) return;
    fresh.sort((a, b) => a.record.uid - b.record.uid);
    // Within the new ones, the later of two with one UID wins.
    const unique = fresh.filter((e, i) => fresh[i + 1]?.record.uid !== e.record.uid);
    const size = this.count + unique.length;
    this.uids = grow(this.uids, size);
    this.offsets = grow(this.offsets, size);
    this.lengths = grow(this.lengths, size);
    this.flagIds = grow(this.flagIds, size);
    this.keywordIds = grow(this.keywordIds, size);
    if ((unique[0] as IndexEntry).record.uid > this.lastUid) {
      // Mail arrives in UID order: appended.
      for (const entry of unique) this.set(this.count++, entry);
      return;
    }
    // An earlier UID (a late log record): merged from the end, in place.
    let from = this.count - 1;
    let to = size - 1;
    for (let k = unique.length - 1; k >= 0; k--) {
      const entry = unique[k] as IndexEntry;
      while (from >= 0 && (this.uids[from] as number) > entry.record.uid) this.move(from--, to--);
      this.set(to--, entry);
    }
    this.count = size;
  }

  /** Sets where message `uid`'s record is in the journal (after it was appended). */
  setLine(uid: number, offset: number, length: number): void {
    const at = this.find(uid);
    if (at < 0) return;
    this.offsets[at] = offset;
    this.lengths[at] = length;
  }

  /** The folder's keywords in dovecot-keywords' order (first use, messages in UID order; at most 26). */
  keywordTable(): KeywordTable {
    const keywords = new FolderKeywords();
    const taken = new Set<number>([0]);
    for (let i = 0; i < this.count && keywords.keywords.length < 26; i++) {
      const id = this.keywordIds[i] as number;
      if (taken.has(id)) continue;
      taken.add(id);
      keywords.add(this.keywordLists.values[id]);
    }
    const letters = new Map<number, string>();
    return {
      keywords: keywords.keywords,
      lettersOf: (id) => {
        let found = letters.get(id);
        if (found === undefined) {
          found = keywords.lettersOf(this.keywordLists.values[id]);
          letters.set(id, found);
        }
        return found;
      },
    };
  }

  /** Message `i`'s file inside the folder (`cur/<base>:2,<flags><keyword letters>`) under `table`. */
  filePath(i: number, table: KeywordTable): string {
    return messageFilePath(
      this.names[i] as string,
      this.flagLists.values[this.flagIds[i] as number] as readonly string[],
      table.lettersOf(this.keywordIds[i] as number),
    );
  }

  private set(i: number, { record, offset, length }: IndexEntry): void {
    this.uids[i] = record.uid;
    this.names[i] = record.file;
    this.flagIds[i] = this.flagLists.id(record.flags);
    this.keywordIds[i] = this.keywordLists.id(recordKeywordAtoms(record));
    this.offsets[i] = offset;
    this.lengths[i] = length;
  }

  private move(from: number, to: number): void {
    this.uids[to] = this.uids[from] as number;
    this.names[to] = this.names[from] as string;
    this.flagIds[to] = this.flagIds[from] as number;
    this.keywordIds[to] = this.keywordIds[from] as number;
    this.offsets[to] = this.offsets[from] as number;
    this.lengths[to] = this.lengths[from] as number;
  }
}

/** Every folder of a mailbox's replica, as its journal holds them. */
export class MailboxIndex {
  readonly folders = new Map<string, FolderIndex>();
  /** The bytes of whole lines read from the journal by load (a torn last line left out). */
  journalBytes = 0;

  get messages(): number {
    let total = 0;
    for (const folder of this.folders.values()) total += folder.count;
    return total;
  }

  /** The folder's index, made (under `uidValidity`) when the mailbox holds nothing in it yet. */
  folder(name: string, uidValidity: number): FolderIndex {
    let folder = this.folders.get(name);
    if (!folder) {
      folder = new FolderIndex(uidValidity);
      this.folders.set(name, folder);
    }
    return folder;
  }

  /**
   * The index of the journal at `path` (empty when there is none), read a line at a time. Throws
   * ReplicaProgressError naming the line when one does not parse.
   */
  static async load(path: string): Promise<MailboxIndex> {
    const index = new MailboxIndex();
    const pending = new Map<string, IndexEntry[]>();
    for await (const { record, offset, length } of readJournalLines(path)) {
      let list = pending.get(record.folder);
      if (!list) {
        index.folder(record.folder, record.uidValidity);
        list = [];
        pending.set(record.folder, list);
      }
      list.push({ record: pick(record), offset, length });
      index.journalBytes = offset + length + 1;
      // Added in batches: a folder's entries are not all held as objects at once.
      if (list.length >= 4096) {
        index.folders.get(record.folder)?.add(list);
        pending.set(record.folder, []);
      }
    }
    for (const [folder, list] of pending) index.folders.get(folder)?.add(list);
    return index;
  }
}

/** The fields the index keeps of a record (the rest of the parsed record is not held). */
const pick = (record: DeliveryRecord): IndexEntry['record'] => ({
  uid: record.uid,
  file: record.file,
  flags: record.flags,
  keywords: record.keywords,
});
