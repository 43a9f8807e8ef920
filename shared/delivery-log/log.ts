// The delivery log in a bucket: batches that writers append (one object each), and the reader that walks the
// objects from a cursor. Append-only: a writer never overwrites or deletes a log object (every key is new).
import { randomBytes } from 'node:crypto';
import { readObject } from '../archive/raw-object';
import type { RawMailStore } from '../ports';
import {
  DELIVERY_LOG_PREFIX,
  LOG_START,
  type LogCursor,
  type LogWriter,
  logObjectKey,
  PUT_TIMEOUT_MS,
  parseLogObjectKey,
} from './layout';
import { canonicalRecord, type DeliveryRecord, logObjectBody, parseLogObject } from './record';

/** The content type of a log object (JSON Lines). */
export const LOG_CONTENT_TYPE = 'application/x-ndjson';

/** A log object as read: its key, its records in order, and the lines that are not records. */
export interface LogObject {
  key: string;
  records: DeliveryRecord[];
  /** Lines that did not parse (1-based line number and why); the object's other records are still good. */
  errors: { line: number; reason: string }[];
}

export interface DeliveryLogOptions {
  /** The writer's clock. @default the system clock */
  now?: () => Date;
  /** A new object's unique key part. @default 12 random hex characters */
  unique?: () => string;
  /** How long one put may take before it is retried under a new key, in milliseconds. @default PUT_TIMEOUT_MS */
  putTimeoutMs?: number;
}

/** The delivery log of one bucket (the archive's raw-mail bucket, where the objects it names live too). */
export class DeliveryLog {
  constructor(
    readonly store: RawMailStore,
    readonly bucket: string,
    private readonly options: DeliveryLogOptions = {},
  ) {}

  /** A new batch: records added to it are written as one object when it is flushed. */
  batch(writer: LogWriter): DeliveryLogBatch {
    return new DeliveryLogBatch(this, writer);
  }

  /** Writes one object holding `records` (none: nothing written). Returns its key. Throws what the store throws. */
  async append(writer: LogWriter, records: readonly DeliveryRecord[]): Promise<string | undefined> {
    if (records.length === 0) return undefined;
    const body = logObjectBody(records);
    const now = this.options.now ?? (() => new Date());
    const unique = this.options.unique ?? (() => randomBytes(6).toString('hex'));
    const timeoutMs = this.options.putTimeoutMs ?? PUT_TIMEOUT_MS;
    for (let attempt = 1; ; attempt++) {
      // The key's time is taken right before the put: how late a key can show up is what readers look back for.
      const key = logObjectKey(now(), writer, unique());
      try {
        await this.store.write({ bucket: this.bucket, key }, body, {
          contentType: LOG_CONTENT_TYPE,
          signal: AbortSignal.timeout(timeoutMs),
        });
        return key;
      } catch (error) {
        const timedOut = error instanceof Error && /abort|timeout/i.test(`${error.name} ${error.message}`);
        if (!timedOut || attempt >= 3) throw error;
      }
    }
  }

  /**
   * The log objects after `cursor`, in key order, read `concurrency` at a time: every key the listing returns
   * after `cursor.after` that is not in `cursor.seen` (objects that are not log objects are skipped). Yields
   * each object's records and its bad lines. Throws what the store throws (an object listed but not readable).
   */
  async *read(
    cursor: LogCursor = LOG_START,
    options: { concurrency?: number } = {},
  ): AsyncGenerator<LogObject> {
    yield* this.readObjects(this.keysAfter(cursor), options);
  }

  /** The log objects of `keys`, in the order given, read `concurrency` at a time (one GET each). */
  async *readObjects(
    keys: Iterable<string> | AsyncIterable<string>,
    options: { concurrency?: number } = {},
  ): AsyncGenerator<LogObject> {
    const concurrency = Math.max(1, options.concurrency ?? 8);
    const pending: { key: string; body: Promise<Buffer> }[] = [];
    for await (const key of keys) {
      const body = readObject(this.store, { bucket: this.bucket, key });
      body.catch(() => undefined);
      pending.push({ key, body });
      if (pending.length >= concurrency) yield await settle(pending.shift() as (typeof pending)[number]);
    }
    while (pending.length > 0) yield await settle(pending.shift() as (typeof pending)[number]);
  }

  /** The keys of the log objects after `cursor` (nothing is read): how far behind a reader is. */
  async *keysAfter(cursor: LogCursor = LOG_START): AsyncGenerator<string> {
    const seen = new Set(cursor.seen);
    for await (const { key } of this.store.list(this.bucket, DELIVERY_LOG_PREFIX, cursor.after)) {
      if (!seen.has(key) && parseLogObjectKey(key)) yield key;
    }
  }
}

async function settle(item: { key: string; body: Promise<Buffer> }): Promise<LogObject> {
  return { key: item.key, ...parseLogObject(await item.body) };
}

/**
 * Records waiting to be written as one log object. `flush` writes them (exact repeats within the batch once);
 * when the write fails they stay in the batch and the error is thrown, so the caller can fail its invocation
 * (the messages are delivered again, and their records added again).
 */
export class DeliveryLogBatch {
  private records: DeliveryRecord[] = [];
  private lines = new Set<string>();
  /** When the batch was last flushed (or made), epoch milliseconds. */
  private since = Date.now();

  constructor(
    private readonly log: DeliveryLog,
    readonly writer: LogWriter,
  ) {}

  add(records: readonly DeliveryRecord[]): void {
    for (const record of records) {
      const line = canonicalRecord(record);
      if (this.lines.has(line)) continue;
      this.lines.add(line);
      this.records.push(record);
    }
  }

  /** Records added and not yet written. */
  get size(): number {
    return this.records.length;
  }

  /**
   * Flushes when `records` are waiting or the oldest waited `ms` (a batch that spans many messages, as an
   * import's does: the records of a process killed between two flushes are what reconcile reports as not
   * logged, and reindex logs).
   */
  async flushIfDue(limits: { records: number; ms: number }): Promise<string | undefined> {
    if (this.records.length === 0) return undefined;
    if (this.records.length < limits.records && Date.now() - this.since < limits.ms) return undefined;
    return this.flush();
  }

  /** Writes the records added so far as one object; returns its key (undefined when there was nothing). */
  async flush(): Promise<string | undefined> {
    this.since = Date.now();
    const records = this.records;
    const lines = this.lines;
    this.records = [];
    this.lines = new Set();
    try {
      return await this.log.append(this.writer, records);
    } catch (error) {
      // Kept for the next flush, before anything added meanwhile.
      this.records = [...records, ...this.records.filter((r) => !lines.has(canonicalRecord(r)))];
      this.lines = new Set([...lines, ...this.lines]);
      throw error;
    }
  }
}
