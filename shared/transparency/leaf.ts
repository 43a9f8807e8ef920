// The leaves of the transparency log are the delivery log's records: a record's canonical bytes (its line
// without the LF, shared/delivery-log/record.ts) is a leaf, its identity is the delivery's (mailbox, folder,
// UIDVALIDITY, UID), and what its repeats must agree on is the message's sha256 and maildir file. Read with the
// delivery log's own cursor and look-back (shared/delivery-log/layout.ts).
import { z } from 'zod';
import { advanceCursor, LOG_START, type LogCursor } from '../delivery-log/layout';
import type { DeliveryLog } from '../delivery-log/log';
import {
  canonicalRecord,
  type DeliveryRecord,
  deliveryIdentity,
  parseRecordLine,
  readDeliveryFacts,
} from '../delivery-log/record';
import { errorMessage } from '../errors';
import type { WriteOnceStore } from '../ports';
import { entryBundles, LogDamageError, parseSealRecordPath, SEALS_PREFIX } from './log-files';
import type { LeafDelivery } from './proofs';
import type { LeafFacts, LeafSource } from './seal';

const cursorSchema = z.object({ after: z.string(), seen: z.array(z.string()) });

/** A leaf as a delivery, as a verifier compares it. Throws DeliveryRecordError when it is not a delivery record. */
export function readLeafDelivery(leaf: string): LeafDelivery {
  return readDeliveryFacts(leaf);
}

/** The identity and content of a leaf's bytes. Throws DeliveryRecordError when they are not a record. */
export function leafFacts(leaf: Buffer): LeafFacts {
  const record = parseRecordLine(leaf.toString('utf8'));
  return { identity: deliveryIdentity(record), content: `${record.sha256} ${record.file}` };
}

/** The delivery identity of a leaf's bytes. Throws DeliveryRecordError when they are not a record. */
export const leafIdentity = (leaf: Buffer): string => leafFacts(leaf).identity;

/** The delivery log as the sealer's source of leaves. */
export function deliveryLogSource(log: DeliveryLog): LeafSource<LogCursor> {
  return {
    start: LOG_START,
    async *objects(cursor) {
      for await (const object of log.read(cursor)) {
        yield {
          key: object.key,
          leaves: object.records.map((record) => Buffer.from(canonicalRecord(record), 'utf8')),
          unreadable: object.errors.map((e) => `${object.key} line ${e.line}: ${e.reason}`),
        };
      }
    },
    advance: (cursor, keys) => advanceCursor(cursor, keys),
    facts: leafFacts,
    parseCursor: (value) => cursorSchema.parse(value),
  };
}

/**
 * Where the delivery log stood when the tree held at most `size` leaves: the cursor of the newest seal record
 * (`seals/<size>/<time>.json`, seal.ts) of a tree of `size` leaves or fewer. Every record of the log objects
 * before that cursor is a leaf of that tree (appended, or a repeat of a leaf), except what the seal reported as
 * a conflict or unreadable; a reader that takes the first `size` leaves can go on reading the log from there.
 * Undefined when no seal record is that small. Throws LogDamageError when the record is not a seal record.
 */
export async function sealedLogCursor(store: WriteOnceStore, size: number): Promise<LogCursor | undefined> {
  let newest: string | undefined;
  for await (const path of store.list(SEALS_PREFIX)) {
    const named = parseSealRecordPath(path);
    if (named && named.size <= size && (!newest || path > newest)) newest = path;
  }
  if (!newest) return undefined;
  try {
    const record = JSON.parse((await store.get(newest))?.toString('utf8') ?? '') as {
      size?: unknown;
      cursor?: unknown;
    };
    if (typeof record.size !== 'number' || record.size > size) throw new Error(`its size is ${record.size}`);
    return cursorSchema.parse(record.cursor);
  } catch (error) {
    throw new LogDamageError(`${newest} is not a seal record (${errorMessage(error)})`, { cause: error });
  }
}

/** The leaves of one entry bundle as delivery records, and the leaves that are not one (`leaf N: reason`). */
export interface SealedRecords {
  records: DeliveryRecord[];
  errors: string[];
}

/**
 * The first `size` leaves of a log copy as delivery records, an entry bundle (256 leaves) at a time (a partial
 * bundle read from the full one when only that is left). The caller checked the copy against a signed checkpoint
 * (replica-log.ts mirrorLog). Throws LogDamageError naming a bundle that is missing or too short.
 */
export async function* sealedRecords(store: WriteOnceStore, size: number): AsyncIterable<SealedRecords> {
  for await (const { first, entries } of entryBundles(store, size)) {
    const out: SealedRecords = { records: [], errors: [] };
    for (const [i, leaf] of entries.entries()) {
      try {
        out.records.push(parseRecordLine(leaf.toString('utf8')));
      } catch (error) {
        out.errors.push(`leaf ${first + i}: ${errorMessage(error)}`);
      }
    }
    yield out;
  }
}
