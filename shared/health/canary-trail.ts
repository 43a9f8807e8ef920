// Finding one canary again: in the index (a row of the canary mailbox) and, when it is not indexed, among the raw
// objects SES stored. One rule says which message is the canary, because SES replaces the Message-ID of what it
// sends ("If you provide a Message-ID header, Amazon SES overrides the header with its own value", SES developer
// guide, "Amazon SES header fields"): the received copy carries `<SES message id@...amazonses.com>`, and the
// Subject, which SES keeps, carries the canary's own id.
import { isNotMailObject, RAW_MAIL_PREFIX } from '../index/schema';
import { fieldValue, splitHeaderBlock } from '../mail/header-block';
import { findHeaderEnd } from '../mail/lines';
import type { RawMailStore } from '../ports';

/** What identifies a canary once sent: our Message-ID, SES's message id of the send, our id in the Subject. */
export interface SentCanary {
  /** The Message-ID field's value the canary was written with, angle brackets included. */
  messageId: string;
  /** The canary's id (the Subject carries it). */
  id: string;
  /** SES's message id of the send (SES's Message-ID has it as its local part); absent when SES refused it. */
  sesMessageId?: string;
}

/** The fields of a received message the rule reads. */
export interface ReceivedFields {
  messageId?: string | undefined;
  subject?: string | undefined;
}

/**
 * Whether a received message is this canary: its Message-ID is ours, or SES's for the send (`<id@...>`), or its
 * Subject carries the canary's id (random: 32 bits after the time, so nothing else carries it by chance).
 */
export function isThisCanary(canary: SentCanary, received: ReceivedFields): boolean {
  const messageId = received.messageId?.trim();
  if (messageId === canary.messageId) return true;
  if (canary.sesMessageId && messageId?.startsWith(`<${canary.sesMessageId}@`)) return true;
  return received.subject?.includes(canary.id) ?? false;
}

/** How much of each raw object is read to find its header block: a canary's is well under this. */
const HEADER_READ_BYTES = 64 * 1024;

/** The Message-ID and Subject of a stored message, read from its first bytes only. */
async function receivedFieldsOf(store: RawMailStore, bucket: string, key: string): Promise<ReceivedFields> {
  const chunks: Buffer[] = [];
  let length = 0;
  // Leaving the loop early ends the response stream: a large message is not downloaded whole.
  for await (const chunk of await store.read({ bucket, key })) {
    chunks.push(Buffer.from(chunk));
    length += chunk.length;
    if (length >= HEADER_READ_BYTES || findHeaderEnd(Buffer.concat(chunks))) break;
  }
  const fields: ReceivedFields = {};
  for (const field of splitHeaderBlock(Buffer.concat(chunks).subarray(0, HEADER_READ_BYTES)).fields) {
    const name = field.name.toLowerCase();
    if (name === 'message-id') fields.messageId ??= fieldValue(field);
    if (name === 'subject') fields.subject ??= fieldValue(field);
  }
  return fields;
}

/**
 * The `findStored` of the canary run over a raw-mail store: walks incoming/ for objects written since `since`
 * (the listing's LastModified; objects whose store keeps no time are skipped) and reads only their header blocks.
 * Returns the matching object's LastModified (ISO 8601 UTC), or undefined. SES's keys are its message ids, which
 * the sender cannot know, hence the walk: it lists the whole prefix (1,000 keys per request) and runs only when a
 * canary is not indexed.
 */
export function storedCanaryFinder(store: RawMailStore, bucket: string) {
  return async (canary: SentCanary, since: Date): Promise<string | undefined> => {
    for await (const object of store.list(bucket, RAW_MAIL_PREFIX)) {
      if (isNotMailObject(object.key) || object.lastModified === undefined) continue;
      if (Date.parse(object.lastModified) < since.getTime()) continue;
      if (isThisCanary(canary, await receivedFieldsOf(store, bucket, object.key))) return object.lastModified;
    }
    return undefined;
  };
}
