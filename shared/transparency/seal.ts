// Sealing: the records the delivery log holds that the tree does not, appended as leaves, and the new tree head
// signed as a checkpoint. The tree only ever grows; what it holds and in which order is decided here.
//
// Discovery. The delivery log's keys are in time order, but a late writer can put a key that sorts before keys
// the sealer already passed. The sealer therefore reads the log with the log's own cursor (a StartAfter key
// LOOK_BACK behind the newest key read, plus the keys read since): every log object after the cursor that the
// cursor has not seen is read, so a late object inside the look-back is found by the next seal. The cursor is
// kept in the seal record each run writes.
//
// Order. Leaves are appended in the order the sealer finds them: log objects in key order as listed after the
// cursor, lines in object order. A late record therefore becomes a leaf after records with later keys that an
// earlier seal already took; its position says when it was sealed, not when it was received (the record's
// receivedAt says that). Two sealers reading the same log at the same cursor append the same leaves in the same
// order, which is what makes a rerun after a crash write byte-identical tiles.
//
// Repeats. A record whose identity (mailbox, folder, UIDVALIDITY, UID) is already a leaf (a retried writer,
// reindex writing the log again, a late object also read before) is not appended again: the tree holds each
// delivery once, as first sealed. A repeat that names other content (another sha256 or file) is a conflict: it
// is counted and reported (and alarmed on AWS), and the leaf stays as it was.
//
// Crashes. Files are written entries first, tiles next, the checkpoint and seal record last. A seal that stopped
// before its checkpoint left entries past the last checkpoint; the next seal appends those first, in their order.
//
// A missing checkpoint. A seal record is written after its checkpoint, so a record larger than the latest
// checkpoint means that checkpoint went away since: on S3 a simple DELETE puts a delete marker over it, which
// Object Lock does not prevent (it protects versions, not the key's current version; AWS S3 user guide,
// "Working with delete markers"). The seal goes on from the entries, which are still there, and reports it.
import { errorMessage } from '../errors';
import type { WriteOnceStore } from '../ports';
import { signCheckpoint } from './checkpoint';
import {
  checkpointPath,
  LogDamageError,
  parseSealRecordPath,
  readLatestCheckpoint,
  readTree,
  readUncommittedEntries,
  rightEdgeTiles,
  SEALS_PREFIX,
  type StoredCheckpoint,
  sealRecordPath,
  timestampPath,
  writeLogFiles,
} from './log-files';
import { leafHash } from './merkle';
import { formatVerifierKey, type NoteSigner } from './note';
import { type LogFile, TileError, TreeEdge } from './tiles';
import { checkTimestampReply, type TimestampFacts, timestampRequest } from './timestamp';

/** The log's public key, kept with it: what bundles and replicas carry beside the checkpoint. */
export const KEY_PATH = 'key.pub';

/** What a leaf says that its repeats must agree with, and the delivery it is. */
export interface LeafFacts {
  /** The delivery's identity (equal for repeats of one delivery). */
  identity: string;
  /** What must be equal among repeats (the content's sha256 and file); a difference is a conflict. */
  content: string;
}

/** Where leaves come from: the delivery log, read from a cursor. */
export interface LeafSource<Cursor> {
  /** A reader that has read nothing. */
  readonly start: Cursor;
  /** The log objects after `cursor`, in key order: each one's key, its leaves' bytes, and lines it cannot use. */
  objects(cursor: Cursor): AsyncIterable<{ key: string; leaves: Buffer[]; unreadable: string[] }>;
  /** The cursor once `keys` were read from `cursor`. */
  advance(cursor: Cursor, keys: string[]): Cursor;
  /** The identity and content of a leaf's bytes. Throws when the bytes are not a leaf of this log. */
  facts(leaf: Buffer): LeafFacts;
  /** Checks a cursor read back from a seal record; throws when it is not one. */
  parseCursor(value: unknown): Cursor;
}

/** Sends a checkpoint to an RFC 3161 timestamp authority: DER TimeStampReq in, DER TimeStampResp out. */
export type TimestampAuthority = (request: Buffer) => Promise<Buffer>;

export interface SealDeps<Cursor> {
  store: WriteOnceStore;
  signer: NoteSigner;
  source: LeafSource<Cursor>;
  now?: () => Date;
  /** Time-stamps each new checkpoint when set. */
  timestampAuthority?: TimestampAuthority;
}

/** What one seal did: written into the seal record, printed by `seal`, logged and measured by the Lambda. */
export interface SealReport {
  origin: string;
  /** ISO 8601 UTC. */
  sealedAt: string;
  previousSize: number;
  size: number;
  /** Base64 root hash. */
  root: string;
  /** Leaves appended by this seal (including ones a stopped seal had written). */
  appended: number;
  /** Records of deliveries already in the tree, with the same content. */
  repeats: number;
  /** Records of deliveries already in the tree naming other content: `identity: what differs`. */
  conflicts: string[];
  /** Lines of the delivery log that are not records: `key line N: reason`. */
  unreadable: string[];
  /** Log objects read. */
  objectsRead: number;
  /** Files of the log this seal created (the rest were there with the same bytes). */
  filesCreated: number;
  /** The signed checkpoint, as stored. */
  checkpoint: string;
  timestamp?: TimestampFacts;
  /** Why the timestamp authority gave no usable time-stamp (the seal itself went through). */
  timestampError?: string;
  /**
   * The latest checkpoint a seal record says was written but the store no longer shows (deleted, or hidden by a
   * delete marker): its tree size and when that seal ran (ISO 8601 UTC). The seal rebuilt the tree from the entries.
   */
  missingCheckpoint?: { size: number; sealedAt: string };
}

/** The one line that says a seal found its latest checkpoint gone (SealReport.missingCheckpoint). */
export function describeMissingCheckpoint(missing: { size: number; sealedAt: string }): string {
  return `the checkpoint of ${missing.size} deliveries that the seal of ${missing.sealedAt} wrote is missing (deleted, or hidden by a delete marker); this seal rebuilt the tree from its entries`;
}

interface SealRecord<Cursor> extends Omit<SealReport, 'checkpoint'> {
  cursor: Cursor;
}

/**
 * Seals the log once. Throws LogDamageError when the store's log does not match its own latest checkpoint (a
 * tile or entry missing or altered, a checkpoint by another key), LogOverwriteError (from the store) when a file
 * would be replaced, and what the store and the source throw. A timestamp authority's failure does not throw
 * (the report's timestampError says it).
 */
export async function seal<Cursor>(deps: SealDeps<Cursor>): Promise<SealReport> {
  const { store, signer, source } = deps;
  const now = (deps.now ?? (() => new Date()))();
  const origin = signer.verifier.name;
  const latest = await readLatestCheckpoint(store, signer.verifier);
  const previousSize = latest?.checkpoint.size ?? 0;
  const { edge, known } = await loadTree(store, source, latest);

  let appended = 0;
  const append = (leaf: Buffer, facts: LeafFacts) => {
    edge.append(leaf, leafHash(leaf));
    known.set(facts.identity, facts.content);
    appended += 1;
  };
  for (const leaf of await readUncommittedEntries(store, previousSize)) append(leaf, source.facts(leaf));

  const lastSeal = await readLastSealRecord(store, source);
  const cursor = lastSeal?.cursor ?? source.start;
  const missingCheckpoint =
    lastSeal && lastSeal.size > previousSize
      ? { size: lastSeal.size, sealedAt: lastSeal.sealedAt }
      : undefined;
  const keys: string[] = [];
  const conflicts: string[] = [];
  const unreadable: string[] = [];
  let repeats = 0;
  for await (const object of source.objects(cursor)) {
    keys.push(object.key);
    unreadable.push(...object.unreadable);
    for (const leaf of object.leaves) {
      const facts = source.facts(leaf);
      const content = known.get(facts.identity);
      if (content === undefined) append(leaf, facts);
      else if (content === facts.content) repeats += 1;
      else conflicts.push(`${facts.identity}: sealed as ${content}, now ${facts.content} (${object.key})`);
    }
  }

  const size = edge.size;
  const root = edge.root();
  const checkpoint = await signCheckpoint({ origin, size, root }, signer);
  const last: LogFile[] = [
    { path: KEY_PATH, bytes: Buffer.from(`${formatVerifierKey(signer.verifier)}\n`) },
    { path: checkpointPath(size), bytes: Buffer.from(checkpoint) },
  ];
  let timestamp: TimestampFacts | undefined;
  let timestampError: string | undefined;
  if (deps.timestampAuthority && !(await store.get(timestampPath(size)))) {
    // A timestamp authority that is down or answers badly does not stop the seal: the report says why, and the
    // next seal of a grown tree asks again.
    try {
      const request = timestampRequest(Buffer.from(checkpoint));
      const reply = await deps.timestampAuthority(request.der);
      timestamp = checkTimestampReply(reply, Buffer.from(checkpoint), request.nonce);
      last.push({ path: timestampPath(size), bytes: reply });
    } catch (error) {
      timestampError = errorMessage(error);
    }
  }
  const report: SealReport = {
    origin,
    sealedAt: now.toISOString(),
    previousSize,
    size,
    root: root.toString('base64'),
    appended,
    repeats,
    conflicts,
    unreadable,
    objectsRead: keys.length,
    filesCreated: 0,
    checkpoint,
    ...(timestamp ? { timestamp } : {}),
    ...(timestampError ? { timestampError } : {}),
    ...(missingCheckpoint ? { missingCheckpoint } : {}),
  };
  const { checkpoint: _, ...facts } = report;
  const record: SealRecord<Cursor> = { ...facts, cursor: source.advance(cursor, keys) };
  report.filesCreated = await writeLogFiles(store, edge.files(), [
    ...last,
    { path: sealRecordPath(size, now), bytes: Buffer.from(`${JSON.stringify(record, null, 2)}\n`) },
  ]);
  return report;
}

/**
 * The right edge of the tree of the latest checkpoint, checked against its signed root, and the identities of
 * all its leaves (read from every entry bundle: repeats can come years later, from reindex).
 */
async function loadTree<Cursor>(
  store: WriteOnceStore,
  source: LeafSource<Cursor>,
  latest: StoredCheckpoint | undefined,
): Promise<{ edge: TreeEdge; known: Map<string, string> }> {
  const size = latest?.checkpoint.size ?? 0;
  try {
    const edge = size === 0 ? TreeEdge.empty() : await TreeEdge.load(size, (path) => store.get(path));
    if (latest && !edge.root().equals(latest.checkpoint.root))
      throw new LogDamageError(
        `the tiles of the log do not hash to the root of its checkpoint of ${size} (${rightEdgeTiles(size)})`,
      );
    const known = new Map<string, string>();
    const { entries } = await readTree(store, size, latest?.checkpoint.root);
    for (const entry of entries) {
      const facts = source.facts(entry);
      if (!known.has(facts.identity)) known.set(facts.identity, facts.content);
    }
    return { edge, known };
  } catch (error) {
    if (error instanceof TileError) throw new LogDamageError(error.message, { cause: error });
    throw error;
  }
}

async function readLastSealRecord<Cursor>(
  store: WriteOnceStore,
  source: LeafSource<Cursor>,
): Promise<{ cursor: Cursor; size: number; sealedAt: string } | undefined> {
  let last: string | undefined;
  let named: { size: number; sealedAt: string } | undefined;
  for await (const path of store.list(SEALS_PREFIX)) {
    const facts = parseSealRecordPath(path);
    if (facts && (!last || path > last)) [last, named] = [path, facts];
  }
  if (!last || !named) return undefined;
  const bytes = await store.get(last);
  try {
    const record = JSON.parse(bytes?.toString('utf8') ?? '') as { cursor?: unknown };
    return { cursor: source.parseCursor(record.cursor), ...named };
  } catch (error) {
    throw new LogDamageError(`${last} is not a seal record`, { cause: error });
  }
}
