// Pieces the benchmark scripts share.
import type { RawMailStore } from '../shared/ports';

/** An in-memory RawMailStore: the ingest core measured without any I/O. */
export function memoryStore(objects: Map<string, Buffer>): RawMailStore {
  return {
    async read(location) {
      const body = objects.get(location.key);
      if (!body) throw new Error(`no ${location.key}`);
      return [body] as unknown as AsyncIterable<Uint8Array>;
    },
    async write(location, body) {
      objects.set(location.key, Buffer.from(body));
      return {};
    },
    async exists(location) {
      return objects.has(location.key);
    },
    async upload() {
      throw new Error('not used');
    },
    async *list() {},
  };
}
