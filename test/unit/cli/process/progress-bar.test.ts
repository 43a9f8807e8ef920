import { describe, expect, it } from 'vitest';
import { progressBar, showsProgress } from '../../../../cli/process/progress-bar';

describe('the progress bar', () => {
  const terminal = { isTTY: true };
  it('is drawn for a person at a terminal', () => {
    expect(showsProgress({}, terminal, {})).toBe(true);
  });

  it('is not drawn under --quiet or --json, in CI, or when stderr is not a terminal', () => {
    expect(showsProgress({ quiet: true }, terminal, {})).toBe(false);
    expect(showsProgress({ json: true }, terminal, {})).toBe(false);
    expect(showsProgress({}, terminal, { CI: 'true' })).toBe(false);
    expect(showsProgress({}, { isTTY: false }, {})).toBe(false);
  });

  it('gives import, export and restore nothing to draw where it is not shown', async () => {
    // The test runner's stderr is not a terminal.
    expect(await progressBar({ json: true }, 'restoring [{bar}]')).toBeUndefined();
  });
});
