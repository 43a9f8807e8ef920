// The Sent collection's state beside the raw mail (shared/adapters/raw-store-sent-state.ts), on the file store.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileRawMailStore } from '../../../shared/adapters/file-store';
import { RawStoreSentCollectionState } from '../../../shared/adapters/raw-store-sent-state';
import { sentCollectionStateKey } from '../../../shared/index/schema';
import { JsonShapeError } from '../../../shared/json';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function stores() {
  const dir = mkdtempSync(join(tmpdir(), 'sent-state-'));
  dirs.push(dir);
  const store = new FileRawMailStore(dir);
  return { store, state: new RawStoreSentCollectionState(store, 'raw') };
}

describe('the Sent collection state', () => {
  it('reads back what it wrote, and nothing for a target never collected', async () => {
    const { state } = stores();
    await state.put('alice@example.com', { historyId: '4711', collectedAt: '2026-12-01T00:00:00.000Z' });
    expect(await state.get('alice@example.com')).toEqual({
      historyId: '4711',
      collectedAt: '2026-12-01T00:00:00.000Z',
    });
    expect(await state.get('bob@example.com')).toBeUndefined();
  });

  it('names the object and the field when the stored state is damaged', async () => {
    const { store, state } = stores();
    const key = sentCollectionStateKey('alice@example.com');
    await store.write({ bucket: 'raw', key }, Buffer.from(JSON.stringify({ historyId: 4711 })));
    const error = await state.get('alice@example.com').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JsonShapeError);
    expect((error as Error).message).toMatch(new RegExp(`s3://raw/${key}.*historyId`));
  });
});
