// The delivery log's contract, on a directory store and the in-memory index: one canonical byte string per
// record, the identity that makes a repeated record one delivery, keys in time order, the reader's cursor and
// look-back, and the ingest handler writing one object per invocation (also when it is retried).
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context, SQSEvent } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createIngestHandler } from '../../../lambdas/ingest/handler';
import { FileRawMailStore } from '../../../shared/adapters/file-store';
import { MemoryMailIndex } from '../../../shared/adapters/memory-index';
import { fileBaseName } from '../../../shared/bundle/layout';
import { LoggedPrints } from '../../../shared/delivery-log/audit';
import {
  advanceCursor,
  LOG_START,
  logObjectKey,
  parseLogObjectKey,
  startAfterTime,
} from '../../../shared/delivery-log/layout';
import { DeliveryLog } from '../../../shared/delivery-log/log';
import {
  canonicalRecord,
  type DeliveryRecord,
  deliveryIdentity,
  deliveryRecordOf,
  parseLogObject,
  parseRecordLine,
  type RecordReceipt,
  readDeliveryFacts,
} from '../../../shared/delivery-log/record';
import type { DeliveryRow } from '../../../shared/index/schema';
import { exampleConfig } from '../../support/config';
import { makeMessage } from '../../support/messages';
import { receiveLikeSes } from '../../support/ses';

const record: DeliveryRecord = {
  v: 1,
  mailbox: 'alice@example.com',
  folder: 'Archive/2023',
  uidValidity: 1700000000,
  uid: 7,
  flags: ['\\Seen', '$Forwarded'],
  keywords: ['Reçu', 'work'],
  objectKey: 'incoming/abc',
  versionId: 'v1',
  sha256: 'a'.repeat(64),
  size: 1234,
  storage: 'crlf-to-lf',
  receivedAt: '2023-05-01T10:00:00.000Z',
  file: '1682935200.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-abc.mail-archiver,S=1200,W=1234',
  messageKey: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-abc',
};

function printOf(r: DeliveryRecord): string {
  const prints = new LoggedPrints();
  prints.add([r]);
  return prints.toBase64();
}

describe('a delivery record', () => {
  it('has one canonical byte string: fixed field order, sorted flags, no whitespace, optional fields in place', () => {
    const shuffled = Object.fromEntries(Object.entries(record).reverse()) as unknown as DeliveryRecord;
    const line = canonicalRecord(shuffled);
    expect(line).toBe(canonicalRecord(record));
    expect(line).toBe(
      '{"v":1,"mailbox":"alice@example.com","folder":"Archive/2023","uidValidity":1700000000,"uid":7,' +
        '"flags":["$Forwarded","\\\\Seen"],"keywords":["Reçu","work"],"objectKey":"incoming/abc","versionId":"v1",' +
        `"sha256":"${'a'.repeat(64)}","size":1234,"storage":"crlf-to-lf","receivedAt":"2023-05-01T10:00:00.000Z",` +
        `"file":"${record.file}","messageKey":"${record.messageKey}"}`,
    );
    const { versionId: _v, ...local } = record;
    expect(canonicalRecord(local)).not.toContain('versionId');
    expect(canonicalRecord({ ...record, nul: true })).toContain(
      '"storage":"crlf-to-lf","nul":true,"receivedAt"',
    );
  });

  it('parses back to the same bytes, and a line that is not canonical or not a record is refused, naming why', () => {
    const line = canonicalRecord(record);
    expect(canonicalRecord(parseRecordLine(line))).toBe(line);
    expect(() => parseRecordLine(JSON.stringify(record, null, 1))).toThrow(/not in canonical form/);
    expect(() => parseRecordLine(line.replace('"uid":7', '"uid":0'))).toThrow(/uid/);
    expect(() => parseRecordLine(line.replace(record.file, '../../etc/passwd'))).toThrow(/file/);
    expect(() => parseRecordLine(line.replace('"v":1', '"v":3'))).toThrow(/v:/);
    expect(() => parseRecordLine('{"v":1')).toThrow(/not JSON/);
    const parsed = parseLogObject(`${line}\nnot json\n${line}\n`);
    expect(parsed.records.length).toBe(2);
    expect(parsed.errors).toEqual([{ line: 2, reason: expect.stringMatching(/not JSON/) }]);
  });

  it('gives a verifier the fields it compares without the schema, and refuses a line whose fields have other types', () => {
    const line = canonicalRecord(record);
    const { mailbox, folder, uidValidity, uid, sha256, size, receivedAt } = record;
    expect(readDeliveryFacts(line)).toEqual({ mailbox, folder, uidValidity, uid, sha256, size, receivedAt });
    expect(() => readDeliveryFacts(line.replace('"uid":7', '"uid":"7"'))).toThrow(
      /not a delivery record \(uid\)/,
    );
    expect(() => readDeliveryFacts(line.replace('"v":1', '"v":3'))).toThrow(/\(v\)/);
    expect(() => readDeliveryFacts('[1]')).toThrow(/not a delivery record/);
    expect(() => readDeliveryFacts('{"v":1')).toThrow(/not JSON/);
  });

  it('v2 carries the receipt after messageKey, in a fixed order, and round-trips; v1 lines still parse, a v1 line with a receipt does not', () => {
    const receipt: RecordReceipt = {
      recipients: ['alice@example.com', 'Hidden@Example.com'],
      source: 'sender@example.net',
      verdicts: {
        spam: 'PASS',
        virus: 'PASS',
        spf: 'GRAY',
        dkim: 'FAIL',
        dmarc: 'FAIL',
        dmarcPolicy: 'reject',
      },
      contentSha256: 'c'.repeat(64),
      contentRule: 2,
    };
    const shuffledReceipt = Object.fromEntries(Object.entries(receipt).reverse()) as unknown as RecordReceipt;
    const v2: DeliveryRecord = { ...record, v: 2, receipt: shuffledReceipt };
    const line = canonicalRecord(v2);
    expect(line).toBe(
      `${canonicalRecord(record).replace('"v":1', '"v":2').slice(0, -1)},"receipt":{"recipients":["alice@example.com","Hidden@Example.com"],` +
        '"source":"sender@example.net","verdicts":{"spam":"PASS","virus":"PASS","spf":"GRAY","dkim":"FAIL","dmarc":"FAIL","dmarcPolicy":"reject"},' +
        `"contentSha256":"${'c'.repeat(64)}","contentRule":2}}`,
    );
    expect(canonicalRecord(parseRecordLine(line))).toBe(line);
    expect(parseRecordLine(line).receipt).toEqual(receipt);
    const v2Bare = canonicalRecord({ ...record, v: 2 });
    expect(canonicalRecord(parseRecordLine(v2Bare))).toBe(v2Bare);
    const v1 = canonicalRecord(record);
    expect(canonicalRecord(parseRecordLine(v1))).toBe(v1);
    expect(readDeliveryFacts(line)).toEqual(readDeliveryFacts(v1));
    expect(() => parseRecordLine(line.replace('"v":2', '"v":1'))).toThrow(
      /receipt: a v1 record has no receipt/,
    );
    expect(() => parseRecordLine(line.replace('"contentRule":2', '"contentRule":0'))).toThrow(/contentRule/);
    expect(() => parseRecordLine(line.replace('"spf":"GRAY"', '"spf":"MAYBE"'))).toThrow(/spf/);
  });

  it('fingerprints the delivery alone: a v1 print is what it always was, and a v2 record with its receipt prints as the row', () => {
    // Computed on main before v2 (reconcile progress documents keep these across invocations).
    expect(printOf(record)).toBe('yrW4EXCE8sQ=');
    const receipt: RecordReceipt = {
      recipients: ['alice@example.com'],
      source: '',
      verdicts: { spam: 'PASS', virus: 'PASS', spf: 'PASS', dkim: 'PASS', dmarc: 'PASS' },
      contentSha256: 'c'.repeat(64),
      contentRule: 2,
    };
    expect(printOf({ ...record, v: 2, receipt })).toBe('yrW4EXCE8sQ=');
    expect(printOf({ ...record, v: 2 })).toBe('yrW4EXCE8sQ=');
    expect(printOf({ ...record, uid: 8 })).not.toBe('yrW4EXCE8sQ=');
  });

  it('is identified by (mailbox, folder, UIDVALIDITY, UID): a repeat with another version id is the same delivery', () => {
    const repeat: DeliveryRecord = { ...record, versionId: 'v2' };
    expect(deliveryIdentity(repeat)).toBe(deliveryIdentity(record));
    expect(deliveryIdentity({ ...record, uid: 8 })).not.toBe(deliveryIdentity(record));
    expect(deliveryIdentity({ ...record, folder: 'Archive' })).not.toBe(deliveryIdentity(record));
  });

  it("names the maildir file the exporter gives the row, and the row's storage", () => {
    const row = {
      mailbox: 'bob@example.com',
      folder: 'INBOX',
      uid: 3,
      uidValidity: 99,
      flags: ['\\Seen'],
      messageKey: 'k-1',
      sha256: 'b'.repeat(64),
      location: { bucket: 'raw', key: 'incoming/1' },
      size: 10,
      lineEndings: { crlf: 2, lf: 0, cr: 0 },
      receivedAt: '2024-01-02T03:04:05.678Z',
    } as unknown as DeliveryRow;
    const made = deliveryRecordOf(row, 'ver');
    expect(made).toMatchObject({
      file: fileBaseName(row),
      storage: 'crlf-to-lf',
      versionId: 'ver',
      keywords: [],
    });
    expect(made.file).toBe('1704164645.k-1.mail-archiver,S=8,W=10');
  });
});

describe('the log layout', () => {
  it('gives keys that sort in time order, across days, and reads their time back', () => {
    const times = ['2026-11-20T23:59:59.999Z', '2026-11-21T00:00:00.000Z', '2026-11-21T10:15:02.123Z'];
    const keys = times.map((t, i) => logObjectKey(new Date(t), 'ingest', `u${i}`));
    expect([...keys].sort()).toEqual(keys);
    expect(keys[2]).toBe('delivery-log/2026-11-21/101502.123Z-ingest-u2.jsonl');
    expect(parseLogObjectKey(keys[2] as string)).toEqual({
      at: new Date(times[2] as string),
      writer: 'ingest',
    });
    expect(parseLogObjectKey('delivery-log/notes.txt')).toBeUndefined();
    const sent = logObjectKey(new Date(times[0] as string), 'gmail-sent', 'a-b-c');
    expect(parseLogObjectKey(sent)?.writer).toBe('gmail-sent');
    // The bare time sorts before every key of that millisecond.
    expect(startAfterTime(new Date(times[2] as string)) < (keys[2] as string)).toBe(true);
    expect(() => logObjectKey(new Date(times[0] as string), 'ingest', '../x')).toThrow();
  });

  it('moves the cursor to the look-back behind the newest key read, keeping the keys read after it', () => {
    const at = (t: string, u: string) => logObjectKey(new Date(t), 'import', u);
    const a = at('2026-01-01T10:00:00.000Z', 'a');
    const b = at('2026-01-01T10:20:00.000Z', 'b');
    const c = at('2026-01-01T10:30:00.000Z', 'c');
    const cursor = advanceCursor(LOG_START, [a, b, c]);
    expect(cursor.after).toBe(startAfterTime(new Date('2026-01-01T10:15:00.000Z')));
    expect(cursor.seen).toEqual([b, c]);
    // Never moves back.
    expect(advanceCursor(cursor, [a]).after).toBe(cursor.after);
  });
});

describe('the log in a bucket', () => {
  let dir: string;
  let store: FileRawMailStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mail-archiver-log-'));
    store = new FileRawMailStore(dir);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a batch as one object, reads from a cursor, and picks up a late key inside the look-back', async () => {
    let clock = Date.parse('2026-01-01T10:00:00.000Z');
    const log = new DeliveryLog(store, 'raw', { now: () => new Date(clock) });
    const batch = log.batch('import');
    batch.add([record, record, { ...record, uid: 8 }]);
    expect(batch.size).toBe(2);
    const first = await batch.flush();
    expect(await batch.flush()).toBeUndefined();
    let read = [];
    for await (const object of log.read()) read.push(object);
    expect(read.map((o) => [o.key, o.records.length])).toEqual([[first, 2]]);
    let cursor = advanceCursor(
      LOG_START,
      read.map((o) => o.key),
    );

    clock += 60_000;
    const second = await log.append('ingest', [{ ...record, uid: 9 }]);
    // A slow writer: its key's time is before the newest key the reader has, yet it shows up only now.
    clock -= 5 * 60_000;
    const late = await log.append('ingest', [{ ...record, uid: 10 }]);
    read = [];
    for await (const object of log.read(cursor)) read.push(object);
    expect(read.map((o) => o.key).sort()).toEqual([second, late].sort());
    cursor = advanceCursor(
      cursor,
      read.map((o) => o.key),
    );
    read = [];
    for await (const object of log.read(cursor)) read.push(object);
    expect(read).toEqual([]);
  });

  it('keeps the records of a failed flush for the next one', async () => {
    const failing = Object.assign(Object.create(store), {
      write: async () => {
        throw new Error('SlowDown');
      },
    });
    const batch = new DeliveryLog(failing, 'raw').batch('ingest');
    batch.add([record]);
    await expect(batch.flush()).rejects.toThrow('SlowDown');
    expect(batch.size).toBe(1);
  });

  it('the ingest handler writes one object per invocation, and a retried invocation logs its rows again', async () => {
    const config = exampleConfig();
    const index = new MemoryMailIndex();
    const log = new DeliveryLog(store, 'raw');
    const handler = createIngestHandler({ config, store, index, deliveryLog: log, logger: quietLogger });
    const records = [];
    for (const subject of ['one', 'two']) {
      const { notification } = await receiveLikeSes(store, 'raw', makeMessage({ subject }), {
        recipients: ['alice@example.com', 'bob@example.com'],
      });
      records.push({ messageId: subject, body: JSON.stringify(notification), eventSource: 'aws:sqs' });
    }
    const event = { Records: records } as SQSEvent;
    await handler(event, {} as Context);
    await handler(event, {} as Context);
    const objects = [];
    for await (const object of log.read()) objects.push(object);
    expect(objects.length).toBe(2);
    const [once, again] = objects.map((o) => o.records.map(canonicalRecord).sort());
    expect(once?.length).toBe(4);
    expect(again).toEqual(once);
    // Each carries the receipt it was archived from (v2), the index row the rest.
    for (const object of objects)
      for (const r of object.records)
        expect(r.receipt).toMatchObject({
          recipients: [r.mailbox],
          contentRule: 2,
        });
    const deliveries = objects[0]?.records.map(({ receipt: _r, ...r }) => canonicalRecord(r)).sort();
    const rows = [...index.rows.values()].map((r) => canonicalRecord(deliveryRecordOf(r))).sort();
    expect(deliveries).toEqual(rows);
    expect(readdirSync(join(dir, 'raw', 'delivery-log')).length).toBe(1);
  });
});

const quietLogger = { info: () => undefined, warn: () => undefined };
