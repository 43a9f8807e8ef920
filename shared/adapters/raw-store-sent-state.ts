// The Sent collection's state store over the raw-mail store: each target's state as a small JSON object beside
// the raw mail (shared/index/schema.ts sentCollectionStateKey). Built by the composition roots (the gmail-sent
// Lambda, `mail-archiver collect-sent`).

import { z } from 'zod';
import { readObject } from '../archive/raw-object';
import { sentCollectionStateKey } from '../index/schema';
import { parseJsonAs } from '../json';
import type { RawMailStore, SentCollectionState, SentCollectionStateStore } from '../ports';

const sentCollectionStateSchema = z.object({
  historyId: z.string().min(1),
  collectedAt: z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'not a date'),
}) satisfies z.ZodType<SentCollectionState>;

/** Keeps each target's state as a small JSON object beside the raw mail (`state/gmail-sent/<target>.json`). */
export class RawStoreSentCollectionState implements SentCollectionStateStore {
  constructor(
    private readonly store: RawMailStore,
    private readonly bucket: string,
  ) {}

  private location(target: string) {
    return { bucket: this.bucket, key: sentCollectionStateKey(target) };
  }

  async get(target: string): Promise<SentCollectionState | undefined> {
    if (!(await this.store.exists(this.location(target)))) return undefined;
    const { bucket, key } = this.location(target);
    return parseJsonAs(
      sentCollectionStateSchema,
      (await readObject(this.store, { bucket, key })).toString('utf8'),
      `s3://${bucket}/${key}`,
    );
  }

  async put(target: string, state: SentCollectionState): Promise<void> {
    await this.store.write(this.location(target), Buffer.from(JSON.stringify(state)));
  }
}
