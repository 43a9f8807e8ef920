// The leaves of the transparency log are the delivery log's records: a record's canonical bytes (its line
// without the LF, shared/delivery-log/record.ts) is a leaf, its identity is the delivery's (mailbox, folder,
// UIDVALIDITY, UID), and what its repeats must agree on is the message's sha256 and maildir file. Read with the
// delivery log's own cursor and look-back (shared/delivery-log/layout.ts).
import { z } from 'zod';
import { advanceCursor, LOG_START, type LogCursor } from '../delivery-log/layout';
import type { DeliveryLog } from '../delivery-log/log';
import {
  canonicalRecord,
  deliveryIdentity,
  parseRecordLine,
  readDeliveryFacts,
} from '../delivery-log/record';
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
