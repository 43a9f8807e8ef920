// Reading one stored object whole: the one place that gathers a RawMailStore stream into a Buffer.
import type { RawLocation } from '../index/schema';
import type { RawMailStore } from '../ports';

/**
 * The whole object at `location`, as one Buffer. A body that arrives as one chunk (a small object) is used
 * as it is, without a copy: the exporter reads thousands of these and a copy doubled its garbage.
 * Throws what the store throws (a missing object included).
 */
export async function readObject(store: RawMailStore, location: RawLocation): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of await store.read(location)) chunks.push(chunk);
  const only = chunks.length === 1 ? chunks[0] : undefined;
  return only ? Buffer.from(only.buffer, only.byteOffset, only.byteLength) : Buffer.concat(chunks);
}
