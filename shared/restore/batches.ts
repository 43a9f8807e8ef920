// FETCH in batches: a command per message is slow over a long link, one for a whole folder holds it all in memory.

/** `items` in order, cut into runs of at most `maxItems` items and `maxBytes` bytes (a single larger item alone). */
export function* batches<T>(
  items: T[],
  maxItems: number,
  maxBytes: number,
  sizeOf: (item: T) => number,
): Generator<T[]> {
  let batch: T[] = [];
  let bytes = 0;
  for (const item of items) {
    if (batch.length > 0 && (batch.length >= maxItems || bytes + sizeOf(item) > maxBytes)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(item);
    bytes += sizeOf(item);
  }
  if (batch.length) yield batch;
}
