// Reading raw messages for a bundle, checked: every message's bytes are hashed on the way and compared with the
// sha256 the index recorded, so a bundle never holds bytes other than those archived. Small messages are read
// whole, ahead of the writer and with retries; large ones are streamed in their turn.
import { createHash } from 'node:crypto';
import { readObject } from '../archive/raw-object';
import { errorMessage, errorName } from '../errors';
import type { DeliveryRow } from '../index/schema';
import type { RawMailStore } from '../ports';
import { backoffDelay, sleep } from '../retry/backoff';
import { CrlfToLfConverter, crlfToLf } from './maildir';

/** What a checked read needs of a row. */
export type CheckedRow = Pick<DeliveryRow, 'location' | 'size' | 'sha256'>;

/** Messages up to this size (bytes) are read whole, ahead of the writer; larger ones are streamed in their turn. */
const PREFETCH_MAX_BYTES = 1024 * 1024;

/** A message read whole, or a way to stream it. */
export type Body = Buffer | (() => Promise<AsyncIterable<Uint8Array>>);

/** Reads ahead: up to `concurrency` small messages are fetched whole while the writer works. */
export async function* prefetch<R extends CheckedRow>(
  store: RawMailStore,
  rows: AsyncIterable<R>,
  concurrency: number,
): AsyncGenerator<{ row: R; body: Body }> {
  const start = (row: R): Promise<Body> => {
    if (row.size > PREFETCH_MAX_BYTES)
      return Promise.resolve(() => naming(row, () => store.read(row.location)));
    const read = withRetries(() => readChecked(store, row));
    read.catch(() => undefined);
    return read;
  };
  const source = rows[Symbol.asyncIterator]();
  const queue: { row: R; body: Promise<Body> }[] = [];
  let exhausted = false;
  const fill = async () => {
    while (!exhausted && queue.length < concurrency) {
      const next = await source.next();
      if (next.done) exhausted = true;
      else queue.push({ row: next.value, body: start(next.value) });
    }
  };
  await fill();
  while (queue.length > 0) {
    const { row, body } = queue.shift() as { row: R; body: Promise<Body> };
    const ready = await body;
    await fill();
    yield { row, body: ready };
  }
}

/**
 * The raw object of a row could not be read (deleted from the bucket, no access): names its key, which the
 * store's own error (S3's "NoSuchKey: The specified key does not exist.") does not; `cause` is that error.
 */
export class RawMessageUnreadableError extends Error {
  override name = 'RawMessageUnreadableError';
}

async function naming<T>(row: CheckedRow, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    const name = errorName(error);
    throw new RawMessageUnreadableError(
      `${row.location.key}: the archived message cannot be read (${name && name !== 'Error' ? `${name}: ` : ''}${errorMessage(error)}); mail-archiver reconcile lists every such message`,
      { cause: error },
    );
  }
}

/** The whole message, checked against the index's sha256; throws StoredBytesMismatchError, RawMessageUnreadableError. */
async function readChecked(store: RawMailStore, row: CheckedRow): Promise<Buffer> {
  const bytes = await naming(row, () => readObject(store, row.location));
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== row.sha256) throw new StoredBytesMismatchError(row, sha256);
  return bytes;
}

/** The raw object is not what the index says was archived: reading it again will not help. */
export class StoredBytesMismatchError extends Error {
  override name = 'StoredBytesMismatchError';
  constructor(row: CheckedRow, sha256: string) {
    super(`${row.location.key}: stored bytes do not match the index (sha256 ${sha256} != ${row.sha256})`);
  }
}

async function withRetries<T>(fn: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= attempts || error instanceof StoredBytesMismatchError) throw error;
      await sleep(backoffDelay({ firstMs: 200 }, attempt));
    }
  }
}

/** The bytes of one message as its file holds them, checked against the index's sha256 on the way. */
export function messageBytes(
  row: CheckedRow,
  body: Body,
  convertCrlf: boolean,
): Buffer | AsyncIterable<Buffer> {
  if (Buffer.isBuffer(body)) return convertCrlf ? crlfToLf(body) : body;
  return (async function* () {
    const hash = createHash('sha256');
    const converter = convertCrlf ? new CrlfToLfConverter() : undefined;
    for await (const chunk of await body()) {
      const buffer = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      hash.update(buffer);
      yield converter ? converter.push(buffer) : buffer;
    }
    const tail = converter?.flush();
    if (tail?.length) yield tail;
    const sha256 = hash.digest('hex');
    if (sha256 !== row.sha256) throw new StoredBytesMismatchError(row, sha256);
  })();
}
