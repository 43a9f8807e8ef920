// The Sent collection's state store over the raw-mail store: each target's state as a small JSON object beside
// the raw mail (shared/index/schema.ts sentCollectionStateKey). Built by the composition roots (the gmail-sent
// Lambda, `mail-archiver collect-sent`).
import { readObject } from '../archive/raw-object';
import { sentCollectionStateKey } from '../index/schema';
import type { RawMailStore, SentCollectionState, SentCollectionStateStore } from '../ports';

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
    return JSON.parse(
      (await readObject(this.store, this.location(target))).toString('utf8'),
    ) as SentCollectionState;
  }

  async put(target: string, state: SentCollectionState): Promise<void> {
    await this.store.write(this.location(target), Buffer.from(JSON.stringify(state)));
  }
}
