// Legal holds' refusals and their record, over in-memory ports (the S3 and DynamoDB paths are in
// test/integration/holds.test.ts): an empty window, a blank reason or a hold that matches no message is refused
// and recorded nowhere; a hold interrupted half-way keeps its `placing` record; a second release says the
// hold was already released; an interrupted hold's release counts only the versions it had held.
import { describe, expect, it } from 'vitest';
import type { DeliveryRow } from '../../../shared/index/schema';
import type { HoldLog, ListedVersion, ObjectLocks, ObjectVersion } from '../../../shared/ports';
import type { HoldRecord } from '../../../shared/retention/hold-record';
import {
  coveredBy,
  type HoldDeps,
  HoldNotFoundError,
  InvalidHoldError,
  placeHold,
  releaseHold,
} from '../../../shared/retention/holds';

const BUCKET = 'raw';

function row(id: string, receivedAt: string, fromAddress: string): DeliveryRow {
  return {
    mailbox: 'alice@example.com',
    sesMessageId: id,
    location: { bucket: BUCKET, key: `incoming/${id}` },
    receivedAt,
    fromAddress,
  } as DeliveryRow;
}

class MemoryHolds implements HoldLog {
  readonly records = new Map<string, HoldRecord>();
  readonly writes: HoldRecord[] = [];
  async putHold(record: HoldRecord) {
    this.records.set(record.holdId, record);
    this.writes.push(record);
  }
  async getHold(holdId: string) {
    return this.records.get(holdId);
  }
  async listHolds() {
    return [...this.records.values()];
  }
  readonly held = new Map<string, ObjectVersion[]>();
  async putHeldVersions(
    holdId: string,
    bucket: string,
    versions: readonly { key: string; versionId: string }[],
  ) {
    this.held.set(
      holdId,
      versions.map((v) => ({ bucket, key: v.key, versionId: v.versionId })),
    );
    return 1;
  }
  async heldVersions(holdId: string) {
    return this.held.get(holdId) ?? [];
  }
}

/** One version per key; `failAfter` legal holds set, the next one throws (a killed `hold add`). */
class MemoryLocks implements ObjectLocks {
  readonly held = new Set<string>();
  constructor(private failAfter = Number.POSITIVE_INFINITY) {}
  async retain() {}
  async retention() {
    return undefined;
  }
  async setLegalHold(version: ObjectVersion, on: boolean) {
    if (this.failAfter-- <= 0) throw new Error('connection reset');
    if (on) this.held.add(version.key);
    else this.held.delete(version.key);
  }
  async legalHold(version: ObjectVersion) {
    return this.held.has(version.key);
  }
  async tag() {}
  async tags() {
    return {};
  }
  async *versions(bucket: string, prefix: string): AsyncIterable<ListedVersion> {
    yield {
      bucket,
      key: prefix,
      versionId: 'v1',
      isLatest: true,
      deleteMarker: false,
      lastModified: '',
      size: 1,
    };
  }
}

function deps(locks = new MemoryLocks()): HoldDeps & { holds: MemoryHolds; locks: MemoryLocks } {
  const rows = [
    row('m1', '2026-02-15T10:00:00.000Z', 'mallory@evil.example.net'),
    row('m2', '2026-02-20T10:00:00.000Z', 'ann@sender.example.org'),
  ];
  return {
    index: {
      async *listDeliveries() {
        yield* rows;
      },
    },
    holds: new MemoryHolds(),
    locks,
    bucket: BUCKET,
  };
}

describe('placeHold refuses what cannot be meant', () => {
  it.each([
    [
      'since after until',
      { since: '2026-03-01T00:00:00.000Z', until: '2026-02-01T00:00:00.000Z' },
      'x',
      /not before until/,
    ],
    [
      'since equal to until',
      { since: '2026-02-15T10:00:00.000Z', until: '2026-02-15T10:00:00.000Z' },
      'x',
      /not before until/,
    ],
    ['a blank reason', {}, '  ', /needs a reason/],
    [
      'a window with no message',
      { since: '2030-01-01T00:00:00.000Z' },
      'x',
      /no message matches alice@example.com since 2030/,
    ],
    ['a sender with no message', { from: 'ann' }, 'x', /no message matches alice@example.com from ann/],
  ])('%s: InvalidHoldError, nothing recorded or held', async (_name, window, reason, message) => {
    const d = deps();
    const placing = placeHold(d, { mailbox: 'alice@example.com', ...window }, reason, 'op');
    await expect(placing).rejects.toThrow(InvalidHoldError);
    await expect(placing).rejects.toThrow(message);
    expect(d.holds.writes).toEqual([]);
    expect(d.locks.held.size).toBe(0);
  });
});

describe('the hold record', () => {
  it('is written before any legal hold, and completed once every version is held', async () => {
    const d = deps();
    const placed = await placeHold(d, { mailbox: 'alice@example.com' }, 'case 42', 'op');
    expect(d.holds.writes[0]).toMatchObject({ messages: 2, versions: 0, state: 'active', placing: true });
    expect(d.holds.writes[0]?.completedAt).toBeUndefined();
    expect(placed).toMatchObject({ messages: 2, versions: 4, state: 'active' });
    expect(placed.completedAt).toBeDefined();
    expect(placed.placing).toBeUndefined();
  });

  it('of an interrupted hold stays placing, and the hold can be released', async () => {
    const d = deps(new MemoryLocks(1));
    await expect(placeHold(d, { mailbox: 'alice@example.com' }, 'case 42', 'op')).rejects.toThrow('reset');
    const [record] = await d.holds.listHolds();
    expect(record).toMatchObject({ state: 'active', messages: 2, placing: true });
    // It held one version of four before it stopped: the release frees that one and counts only it.
    const locks = new MemoryLocks();
    for (const key of d.locks.held) locks.held.add(key);
    expect(locks.held.size).toBe(1);
    const released = await releaseHold({ ...d, locks }, record?.holdId ?? '', 'op');
    expect(released).toMatchObject({ state: 'released', releasedVersions: 1 });
    expect(locks.held.size).toBe(0);
  });

  it('released twice: the second release says when and by whom it was released', async () => {
    const d = deps();
    const placed = await placeHold(d, { mailbox: 'alice@example.com' }, 'case 42', 'op');
    await releaseHold(d, placed.holdId, 'lawyer');
    const again = releaseHold(d, placed.holdId, 'lawyer');
    await expect(again).rejects.toThrow(HoldNotFoundError);
    await expect(again).rejects.toThrow(/already released, at .* by lawyer/);
    await expect(releaseHold(d, 'nope', 'op')).rejects.toThrow(/no active hold nope/);
  });
});

// Rows keep the sender as the message wrote it; an internationalised domain has two spellings (review-29d U4).
describe('a hold from one sender', () => {
  it('covers the sender written in either spelling of an internationalised domain, asked in either', () => {
    const aLabel = row('m1', '2026-01-02T00:00:00.000Z', 'alice@xn--bcher-kva.example');
    const uLabel = row('m2', '2026-01-02T00:00:00.000Z', 'alice@bücher.example');
    const other = row('m3', '2026-01-02T00:00:00.000Z', 'bob@bücher.example');
    for (const from of ['Alice@Bücher.example', 'alice@XN--BCHER-KVA.example']) {
      const covered = [aLabel, uLabel, other].filter((r) =>
        coveredBy(r, { mailbox: 'alice@example.com', from }),
      );
      expect(covered.map((r) => r.sesMessageId)).toEqual(['m1', 'm2']);
    }
  });
});
