// The one progress bar every long command draws (import, export, restore, sync): on stderr, and only for a person
// watching a terminal, never in CI nor under --quiet or --json, so what a script reads stays clean.
// cli-progress draws it.
import type { OutputOptions } from './output';

export interface ProgressBar {
  /** Shows `done` of `total` (any unit) with the format's named `fields`; the first call draws the bar. */
  update(done: number, total: number, fields?: Record<string, string>): void;
  /** Prints `line` on stderr; the bar is drawn again, below it, at the next update. */
  log(line: string): void;
  /** Takes the bar off the screen (again: nothing). */
  stop(): void;
}

/** Whether a progress bar is drawn: `stream` is a terminal, not in CI, neither --quiet nor --json. */
export function showsProgress(
  output: OutputOptions,
  stream: { isTTY?: boolean } = process.stderr,
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  return stream.isTTY === true && !env.CI && !output.quiet && !output.json;
}

/**
 * A progress bar on stderr in cli-progress's `format` (`{bar}`, `{percentage}`, `{eta_formatted}` and the
 * fields `update` names), or undefined where `showsProgress` says none is drawn. `etaBuffer` is how many
 * updates the time left is estimated over.
 */
export async function progressBar(
  output: OutputOptions,
  format: string,
  options: { etaBuffer?: number } = {},
): Promise<ProgressBar | undefined> {
  if (!showsProgress(output)) return undefined;
  const { SingleBar, Presets } = await import('cli-progress');
  const bar = new SingleBar(
    {
      stream: process.stderr,
      format,
      hideCursor: true,
      ...(options.etaBuffer ? { etaBuffer: options.etaBuffer } : {}),
    },
    Presets.shades_classic,
  );
  let drawn = false;
  let shownTotal = 0;
  return {
    update(done, total, fields = {}) {
      const t = Math.max(total, 1);
      if (!drawn) {
        bar.start(t, done, fields);
        drawn = true;
      } else {
        if (t !== shownTotal) bar.setTotal(t);
        bar.update(done, fields);
      }
      shownTotal = t;
    },
    log(line) {
      if (drawn) bar.stop();
      drawn = false;
      process.stderr.write(`${line}\n`);
    },
    stop() {
      if (drawn) bar.stop();
      drawn = false;
    },
  };
}
