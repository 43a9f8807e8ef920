import { describe, expect, it } from 'vitest';
import { PollTimeoutError, poll, waitUntil } from '../../../shared/retry/poll';

describe('poll', () => {
  it('asks again until an answer comes, and returns it', async () => {
    let calls = 0;
    const answer = await poll(async () => (++calls === 3 ? 'ready' : undefined), {
      intervalMs: 1,
      timeoutMs: 5000,
      what: 'the third call',
    });
    expect({ answer, calls }).toEqual({ answer: 'ready', calls: 3 });
  });

  it('ends with the error the attempt throws', async () => {
    const gone = new Error('the process exited');
    await expect(
      poll(
        async () => {
          throw gone;
        },
        { intervalMs: 1, timeoutMs: 5000, what: 'x' },
      ),
    ).rejects.toBe(gone);
  });

  it('gives up at the deadline, naming what it waited for, after trying at least once', async () => {
    let calls = 0;
    const error = await waitUntil(
      async () => {
        calls += 1;
        return false;
      },
      { intervalMs: 5, timeoutMs: 0, what: 'DynamoDB Local to listen' },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PollTimeoutError);
    expect((error as Error).message).toBe('timed out after 0 ms waiting for DynamoDB Local to listen');
    expect(calls).toBeGreaterThanOrEqual(1);
  });

  it("throws the caller's own error at the deadline when it names one", async () => {
    const late = new Error('the export did not finish within 16 minutes');
    await expect(
      poll(async () => undefined, { intervalMs: 1, timeoutMs: 0, what: 'the export', onTimeout: () => late }),
    ).rejects.toBe(late);
  });
});
