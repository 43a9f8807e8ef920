// The byte budget of index rows (shared/index/row-budget.ts): text cut by UTF-8 bytes, never inside a character.
import { describe, expect, it } from 'vitest';
import { truncateUtf8, utf8Bytes } from '../../../shared/index/row-budget';

describe('truncateUtf8', () => {
  it('keeps a value within the limit whole, in every script, at the exact limit too', () => {
    for (const [unit, bytes] of [
      ['a', 1],
      ['é', 2],
      ['漢', 3],
      ['😀', 4],
    ] as const) {
      const value = unit.repeat(300);
      expect(truncateUtf8(value, 300 * bytes)).toBe(value);
    }
  });

  it('cuts a value one byte over the limit, marks the cut, and never splits a character', () => {
    for (const unit of ['a', 'é', '漢', '😀']) {
      const value = unit.repeat(300);
      const limit = utf8Bytes(value) - 1;
      const cut = truncateUtf8(value, limit);
      expect(cut.endsWith('…')).toBe(true);
      expect(utf8Bytes(cut)).toBeLessThanOrEqual(limit);
      expect(cut.slice(0, -1)).toBe(unit.repeat(cut.slice(0, -1).length / unit.length));
      expect(Buffer.from(cut, 'utf8').toString('utf8')).toBe(cut);
    }
  });
});
