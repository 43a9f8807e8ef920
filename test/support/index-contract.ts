// One contract for the index ports (shared/ports.ts), run against every implementation: the in-memory index the
// unit tests use and the DynamoDB adapters (against DynamoDB Local), so that the fake cannot drift from the real
// one. Each case uses its own mailbox, so the cases share one table.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { leaseUntil, SEND_LEASE_MS } from '../../shared/forwarding/ledger';
import type { DeliveryRow, ExportRecord } from '../../shared/index/schema';
import type { ForwardLedger, MailIndex } from '../../shared/ports';
import { testDeliveryRow } from './delivery-row';

export type ContractIndex = MailIndex & ForwardLedger;

const mailbox = () => `user-${randomBytes(4).toString('hex')}@example.com`;
const T0 = new Date('2026-01-01T00:00:00Z');
const at = (ms: number) => new Date(T0.getTime() + ms);

function row(box: string, messageKey: string, uid: number, receivedAt: string): DeliveryRow {
  return testDeliveryRow(box, messageKey, uid, { receivedAt, archivedAt: receivedAt });
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Registers the contract's cases for one implementation; `open` gives the index under test. */
export function indexContract(name: string, open: () => ContractIndex) {
  describe(`the index contract: ${name}`, () => {
    it('hands out UIDs 1, 2, 3 in one folder under one UIDVALIDITY fixed at first use, and restores only under it', async () => {
      const index = open();
      const box = mailbox();
      const first = await index.allocateUid(box, 'INBOX');
      const second = await index.allocateUid(box, 'INBOX');
      const other = await index.allocateUid(box, 'Sent');
      expect([first.uid, second.uid, other.uid]).toEqual([1, 2, 1]);
      expect(second.uidValidity).toBe(first.uidValidity);
      expect(await index.restoreUid(box, 'INBOX', 10, first.uidValidity)).toBe(true);
      expect((await index.allocateUid(box, 'INBOX')).uid).toBe(11);
      // A lower UID under the same UIDVALIDITY is accepted without lowering the counter; another UIDVALIDITY is not.
      expect(await index.restoreUid(box, 'INBOX', 5, first.uidValidity)).toBe(true);
      expect((await index.allocateUid(box, 'INBOX')).uid).toBe(12);
      expect(await index.restoreUid(box, 'INBOX', 20, first.uidValidity + 1)).toBe(false);
      // A folder that does not exist yet is created with the restored UIDVALIDITY.
      expect(await index.restoreUid(box, 'Junk', 7, 1234)).toBe(true);
      expect(await index.allocateUid(box, 'Junk')).toEqual({ uid: 8, uidValidity: 1234 });
      expect((await index.folders(box)).map((f) => f.folder).sort()).toEqual(['INBOX', 'Junk', 'Sent']);
    });

    it('writes a delivery row once, lists newest first and a folder in UID order', async () => {
      const index = open();
      const box = mailbox();
      expect(await index.putDelivery(row(box, 'k1', 2, '2026-01-02T00:00:00.000Z'))).toBe('created');
      expect(await index.putDelivery(row(box, 'k1', 9, '2026-01-09T00:00:00.000Z'))).toBe('exists');
      await index.putDelivery(row(box, 'k2', 1, '2026-01-03T00:00:00.000Z'));
      expect((await index.getDelivery(box, 'k1'))?.uid).toBe(2);
      expect(await index.getDelivery(box, 'missing')).toBeUndefined();
      expect((await collect(index.listDeliveries(box))).map((r) => r.messageKey)).toEqual(['k2', 'k1']);
      expect((await collect(index.listDeliveries(box, { limit: 1 }))).map((r) => r.messageKey)).toEqual([
        'k2',
      ]);
      expect((await collect(index.folderDeliveries(box, 'INBOX'))).map((r) => r.uid)).toEqual([1, 2]);
      expect(await index.countDeliveries(box, 'INBOX')).toBe(2);
      expect(await index.countDeliveries(box, 'Junk')).toBe(0);
    });

    it("keeps each folder's count as its rows are written: a duplicate adds nothing; every mailbox is listed", async () => {
      const index = open();
      const box = mailbox();
      for (const [key, folder] of [
        ['k1', 'INBOX'],
        ['k2', 'INBOX'],
        ['k3', 'Sent'],
      ] as const) {
        const { uid } = await index.allocateUid(box, folder);
        expect(await index.putDelivery({ ...row(box, key, uid, '2026-01-02T00:00:00.000Z'), folder })).toBe(
          'created',
        );
      }
      expect(await index.putDelivery(row(box, 'k1', 1, '2026-01-02T00:00:00.000Z'))).toBe('exists');
      const counts = (await index.folders(box)).map((f) => [f.folder, f.messages]).sort();
      expect(counts).toEqual([
        ['INBOX', 2],
        ['Sent', 1],
      ]);
      expect(await index.countDeliveries(box, 'INBOX')).toBe(2);
      expect(await index.countDeliveries(box, 'Sent')).toBe(1);
      // A restored UID in a folder not made yet makes it, counted from its first row.
      expect(await index.restoreUid(box, 'Archive', 40, 1234)).toBe(true);
      await index.putDelivery({ ...row(box, 'k4', 40, '2026-01-02T00:00:00.000Z'), folder: 'Archive' });
      expect((await index.folders(box)).find((f) => f.folder === 'Archive')?.messages).toBe(1);
      expect(await index.mailboxes()).toContain(box);
      // What keeps the counts (a count token per row on DynamoDB) is never read as a row.
      const keys = ['k1', 'k2', 'k3', 'k4'];
      expect((await collect(index.mailboxRows(box))).map((r) => r.messageKey)).toEqual(keys);
      expect((await collect(index.listDeliveries(box))).map((r) => r.messageKey).sort()).toEqual(keys);
      const all = await collect(index.allDeliveries());
      expect(
        all
          .filter((r) => r.mailbox === box)
          .map((r) => r.messageKey)
          .sort(),
      ).toEqual(keys);
    });

    it('claims a content marker once (first writer wins) and no reader of the mailbox sees it as a row', async () => {
      const index = open();
      const box = mailbox();
      const content = randomBytes(32).toString('hex');
      expect(await index.contentHolder(box, content)).toBeUndefined();
      await index.putDelivery(row(box, 'k1', 1, '2026-01-02T00:00:00.000Z'));
      expect(await index.claimContent(box, content, 'k1')).toBe('k1');
      expect(await index.claimContent(box, content, 'k2')).toBe('k1');
      expect(await index.claimContent(box, content, 'k1')).toBe('k1');
      expect(await index.contentHolder(box, content)).toBe('k1');
      // Per mailbox: another mailbox's marker for the same content is its own.
      const other = mailbox();
      expect(await index.claimContent(other, content, 'k2')).toBe('k2');
      expect((await collect(index.listDeliveries(box))).map((r) => r.messageKey)).toEqual(['k1']);
      expect((await collect(index.folderDeliveries(box, 'INBOX'))).map((r) => r.messageKey)).toEqual(['k1']);
      const all = (await collect(index.allDeliveries())).filter(
        (r) => r.mailbox === box || r.mailbox === other,
      );
      expect(all.map((r) => r.messageKey)).toEqual(['k1']);
      expect(await index.folders(box)).toEqual([]);
      expect(await index.mailboxes()).not.toContain(other);
    });

    it('reads a mailbox in raw-key order (byRawObject) and in message-key order, each resuming after a key', async () => {
      const index = open();
      const box = mailbox();
      // Message keys (sha256 prefix first) and SES ids sort in different orders, as they do in the archive.
      const rows = [
        { ...row(box, 'c-id1', 1, '2026-01-01T00:00:00.000Z'), sesMessageId: 'id1' },
        { ...row(box, 'a-id3', 2, '2026-01-01T00:00:00.000Z'), sesMessageId: 'id3' },
        { ...row(box, 'b-id2', 3, '2026-01-01T00:00:00.000Z'), sesMessageId: 'id2' },
      ];
      for (const r of rows) expect(await index.putDelivery(r)).toBe('created');
      // A copy sent through SES gives its ledger entry an sesMessageId: never a row of the raw-key walk.
      const entry = { mailbox: box, messageKey: 'b-id2', target: 't@example.net' };
      await index.claimForward(entry, at(0), false);
      await index.settleForward(entry, { state: 'sent', sesMessageId: 'id0-copy' }, at(1));
      await index.claimForward({ ...entry, messageKey: 'a-id3' }, at(0), false);
      await index.claimForward({ ...entry, messageKey: 'c-id1' }, at(0), false);
      const byRaw = async (after?: string) =>
        (await collect(index.rawObjectRows(box, after))).map((r) => `${r.sesMessageId} ${r.messageKey}`);
      expect(await byRaw()).toEqual(['id1 c-id1', 'id2 b-id2', 'id3 a-id3']);
      expect(await byRaw('id1')).toEqual(['id2 b-id2', 'id3 a-id3']);
      const byKey = async (after?: string) =>
        (await collect(index.mailboxRows(box, after))).map((r) => r.messageKey);
      expect(await byKey()).toEqual(['a-id3', 'b-id2', 'c-id1']);
      expect(await byKey('a-id3')).toEqual(['b-id2', 'c-id1']);
      const ledger = async (after?: string) =>
        (await collect(index.listForwards(box, undefined, after))).map((e) => e.messageKey);
      expect(await ledger()).toEqual(['a-id3', 'b-id2', 'c-id1']);
      expect(await ledger('a-id3')).toEqual(['b-id2', 'c-id1']);
      expect(await ledger('c-id1')).toEqual([]);
      // One message's entries alone: not a neighbour's whose key it begins.
      await index.claimForward({ ...entry, messageKey: 'b-id2x' }, at(0), false);
      await index.claimForward({ ...entry, target: 'u@example.net' }, at(0), false);
      const ofMessage = async (key: string) =>
        (await index.messageForwards(box, key)).map((e) => `${e.messageKey} ${e.target}`).sort();
      expect(await ofMessage('b-id2')).toEqual(['b-id2 t@example.net', 'b-id2 u@example.net']);
      expect(await ofMessage('b-id')).toEqual([]);
    });

    it('claims a send once; a redrive takes failures and claims whose lease ran out', async () => {
      const index = open();
      const e = { mailbox: mailbox(), messageKey: 'm1', target: 't@example.net' };
      expect(await index.claimForward(e, at(0), false)).toBe(true);
      expect(await index.claimForward(e, at(1000), false)).toBe(false);
      // Within the lease even a redrive waits: the worker may still be sending.
      expect(await index.claimForward(e, at(SEND_LEASE_MS - 1000), true)).toBe(false);
      expect(await index.claimForward(e, at(SEND_LEASE_MS + 1000), false)).toBe(false);
      expect(await index.claimForward(e, at(SEND_LEASE_MS + 1000), true)).toBe(true);
      const [claimed] = await collect(index.listForwards(e.mailbox));
      expect(claimed).toMatchObject({
        state: 'sending',
        attempts: 2,
        leaseUntil: leaseUntil(at(SEND_LEASE_MS + 1000)),
      });

      await index.settleForward(
        e,
        { state: 'failed', error: 'throttled', permanent: false },
        at(SEND_LEASE_MS + 2000),
      );
      expect(await index.claimForward(e, at(SEND_LEASE_MS + 3000), false)).toBe(true);
      await index.settleForward(
        e,
        { state: 'failed', error: 'no such user', permanent: true },
        at(SEND_LEASE_MS + 4000),
      );
      // A permanent failure waits for a redrive.
      expect(await index.claimForward(e, at(SEND_LEASE_MS + 5000), false)).toBe(false);
      expect(await index.claimForward(e, at(SEND_LEASE_MS + 5000), true)).toBe(true);
      await index.settleForward(
        e,
        { state: 'sent', sesMessageId: `ses-${e.mailbox}` },
        at(SEND_LEASE_MS + 6000),
      );
      expect(await index.claimForward(e, at(SEND_LEASE_MS * 3), true)).toBe(false);
      const [sent] = await collect(index.listForwards(e.mailbox, 'sent'));
      expect(sent).toMatchObject({ state: 'sent', sesMessageId: `ses-${e.mailbox}` });
      expect(sent?.leaseUntil).toBeUndefined();
      expect(sent?.error).toBeUndefined();
    });

    it('records a skip only over nothing or pending, and feedback by the id SES gave the copy', async () => {
      const index = open();
      const box = mailbox();
      const skipped = { mailbox: box, messageKey: 'm2', target: 't@example.net' };
      await index.skipForward(skipped, 'spam', at(0));
      expect(await index.claimForward(skipped, at(1), true)).toBe(false);
      const sent = { mailbox: box, messageKey: 'm3', target: 't@example.net' };
      await index.claimForward(sent, at(0), false);
      await index.skipForward(sent, 'too late', at(1));
      await index.settleForward(sent, { state: 'sent', sesMessageId: `ses-${box}` }, at(2));
      expect(await index.recordFeedback(`ses-${box}`, 'bounced', '550 no such user', at(3))).toBe(true);
      expect(await index.recordFeedback('ses-unknown', 'bounced', 'x', at(3))).toBe(false);
      const states = Object.fromEntries(
        (await collect(index.listForwards(box))).map((f) => [
          f.messageKey,
          [f.state, f.reason ?? f.feedback],
        ]),
      );
      expect(states).toEqual({ m2: ['skipped', 'spam'], m3: ['bounced', '550 no such user'] });
    });

    it('records export parts atomically: the part that completes the set marks the export done', async () => {
      const index = open();
      const box = mailbox();
      const record: ExportRecord = {
        mailbox: box,
        exportId: '20260101T000000000Z-abc',
        createdAt: T0.toISOString(),
        updatedAt: T0.toISOString(),
        state: 'running',
        format: 'maildir',
        incremental: false,
        messagesDone: 0,
        messagesTotal: 3,
        partCount: 2,
        partResults: {},
        partProgress: {},
        parts: [],
      };
      await index.putExport(record);
      const part = (n: number) => ({
        key: `p${n}`,
        bytes: 10,
        sha256: 'b'.repeat(64),
        messages: n + 1,
        rawBytes: 5,
      });
      expect((await index.recordExportPart(box, record.exportId, 1, part(1))).state).toBe('running');
      const done = await index.recordExportPart(box, record.exportId, 0, part(0));
      expect(done).toMatchObject({ state: 'done', messagesDone: 3 });
      expect(done.parts.map((p) => p.key)).toEqual(['p0', 'p1']);
      expect((await index.latestExport(box, 'maildir'))?.exportId).toBe(record.exportId);
      expect(await index.latestExport(box, 'mboxrd')).toBeUndefined();
    });
  });
}
