import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../../shared/retry/backoff';

describe('backoffDelay', () => {
  it('doubles from the first wait per failed attempt, never past the longest', () => {
    const backoff = { firstMs: 1000, maxMs: 5000 };
    expect([1, 2, 3, 4, 5].map((f) => backoffDelay(backoff, f))).toEqual([1000, 2000, 4000, 5000, 5000]);
  });

  it('has no limit when none is given', () => {
    expect(backoffDelay({ firstMs: 250 }, 12)).toBe(250 * 2 ** 11);
  });

  it("honours a server's longer wait, still within the longest, and ignores a shorter one", () => {
    const backoff = { firstMs: 5, maxMs: 60_000 };
    expect(backoffDelay(backoff, 1, 2000)).toBe(2000);
    expect(backoffDelay(backoff, 1, 600_000)).toBe(60_000);
    expect(backoffDelay({ firstMs: 1000 }, 3, 10)).toBe(4000);
    expect(backoffDelay(backoff, 2, undefined)).toBe(10);
  });
});
