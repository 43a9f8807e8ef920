// A command that runs again every interval until Ctrl-C (`sync --watch 15m`). A watch outlives a passing failure
// (the S3 endpoint unreachable for a while, another sync holding the lock): a run that throws is reported the way
// the CLI reports any error, and tried again at the next interval, as a timer would run it again.
import { interruption } from './interrupt';
import { ExitCode } from './output';

/** setTimeout's longest delay (2^31 - 1 ms, about 24.8 days): a longer one fires at once, with a warning. */
const LONGEST_TIMEOUT_MS = 2 ** 31 - 1;

/** Waits `ms` milliseconds, or less when `signal` aborts; any length (a longer wait is made of shorter ones). */
export async function sleepFor(ms: number, signal: AbortSignal = interruption): Promise<void> {
  let left = ms;
  while (left > 0 && !signal.aborted) {
    const step = Math.min(left, LONGEST_TIMEOUT_MS);
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, step);
      signal.addEventListener('abort', done, { once: true });
    });
    left -= step;
  }
}

/** The interval in its largest whole unit, as --watch takes it: `2d`, `1h`, `15m`, `90s` (`250ms` below a second). */
export function formatInterval(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
  ] as const)
    if (ms % size === 0) return `${ms / size}${unit}`;
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

export interface WatchOptions {
  /** Milliseconds between the end of one run and the start of the next. */
  everyMs: number;
  /** Prints a failed run's error (the CLI's own report); returns the exit code it stands for. */
  report: (error: unknown) => number;
  /** A line on stderr after a failed run, saying when the next run starts. */
  notice: (line: string) => void;
  signal?: AbortSignal;
}

/**
 * Runs `run` now and again every `everyMs` until `signal` aborts (Ctrl-C, SIGTERM). A run resolves to whether it
 * succeeded; a run that throws is reported through `report` and counts as failed. Resolves to the exit code the
 * last run stands for (0 when it succeeded): what a supervisor sees when the watch is stopped.
 */
export async function watchEvery(run: () => Promise<boolean>, options: WatchOptions): Promise<number> {
  const signal = options.signal ?? interruption;
  let code: number = ExitCode.ok;
  for (;;) {
    try {
      code = (await run()) ? ExitCode.ok : ExitCode.failed;
    } catch (error) {
      if (signal.aborted) throw error;
      code = options.report(error);
      options.notice(`trying again in ${formatInterval(options.everyMs)} (--watch)`);
    }
    if (signal.aborted) return code;
    await sleepFor(options.everyMs, signal);
    if (signal.aborted) return code;
  }
}
