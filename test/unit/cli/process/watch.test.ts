// `--watch`: a run that fails is reported and tried again at the next interval (a watch outlives a passing
// outage), Ctrl-C ends the wait at once, and an interval longer than setTimeout's 24.8 days is waited whole
// (setTimeout fires a longer delay after 1 ms, which would sync in a tight loop).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { formatInterval, sleepFor, watchEvery } from '../../../../cli/process/watch';

afterEach(() => {
  vi.useRealTimers();
});

describe('watchEvery', () => {
  it('reports a run that throws, tries again after the interval, and ends with the last run when stopped', async () => {
    const stop = new AbortController();
    const reported: unknown[] = [];
    const notices: string[] = [];
    const outcomes: (() => boolean)[] = [
      () => {
        throw new Error('S3 unreachable');
      },
      () => false,
      () => {
        stop.abort();
        return true;
      },
    ];
    let runs = 0;
    const code = await watchEvery(
      async () => {
        const outcome = outcomes[runs++];
        if (!outcome) throw new Error('ran after being stopped');
        return outcome();
      },
      {
        everyMs: 5,
        report: (error) => {
          reported.push(error);
          return 1;
        },
        notice: (line) => notices.push(line),
        signal: stop.signal,
      },
    );
    expect(runs).toBe(3);
    expect(reported.map(String)).toEqual(['Error: S3 unreachable']);
    expect(notices).toEqual(['trying again in 5ms (--watch)']);
    expect(code).toBe(0);
  });

  it('gives the exit code of a last run that failed, and lets an interruption during a run go up', async () => {
    const stop = new AbortController();
    const code = await watchEvery(
      async () => {
        stop.abort();
        return false;
      },
      { everyMs: 5, report: () => 1, notice: () => undefined, signal: stop.signal },
    );
    expect(code).toBe(1);
    const interrupted = new AbortController();
    await expect(
      watchEvery(
        async () => {
          interrupted.abort();
          throw new Error('interrupted by SIGINT');
        },
        { everyMs: 5, report: () => 1, notice: () => undefined, signal: interrupted.signal },
      ),
    ).rejects.toThrow('interrupted by SIGINT');
  });
});

describe('sleepFor', () => {
  it('ends at once when the signal aborts', async () => {
    const stop = new AbortController();
    const started = Date.now();
    setTimeout(() => stop.abort(), 20);
    await sleepFor(3_600_000, stop.signal);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('waits an interval longer than setTimeout allows in whole, not 1 ms', async () => {
    vi.useFakeTimers();
    const thirtyDays = 30 * 86_400_000;
    let done = false;
    const sleeping = sleepFor(thirtyDays, new AbortController().signal).then(() => {
      done = true;
    });
    await vi.advanceTimersByTimeAsync(2 ** 31 - 1);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(thirtyDays - (2 ** 31 - 1));
    await sleeping;
    expect(done).toBe(true);
  });
});

describe('formatInterval', () => {
  it('says an interval the way --watch takes it', () => {
    expect(formatInterval(15 * 60_000)).toBe('15m');
    expect(formatInterval(90_000)).toBe('90s');
    expect(formatInterval(3_600_000)).toBe('1h');
    expect(formatInterval(2 * 86_400_000)).toBe('2d');
    expect(formatInterval(250)).toBe('250ms');
  });
});
