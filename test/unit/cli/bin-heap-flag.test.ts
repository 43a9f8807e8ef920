import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// cli/bin.js fixes V8's heap growing factor unless node was given its own: V8 reads a flag's name with '-' and '_'
// alike (--heap_growing_percent is the same flag), so either spelling is the user's and must win.
const BIN = fileURLToPath(new URL('../../../cli/bin.js', import.meta.url));
// Records every flag the bin sets, before the bin runs.
const RECORD = `data:text/javascript,${encodeURIComponent(
  "import v8 from 'node:v8'; const set = v8.setFlagsFromString; v8.setFlagsFromString = (f) => { process.stderr.write('SET ' + f + '\\n'); set(f); };",
)}`;

function flagsSet(nodeFlags: string[]): string[] {
  const run = spawnSync(process.execPath, [...nodeFlags, '--import', RECORD, BIN, '--version'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(run.status, run.stderr).toBe(0);
  return run.stderr.split('\n').filter((line) => line.startsWith('SET '));
}

describe('cli/bin.js heap growing factor', () => {
  it('sets 75 when node was given none', () => {
    expect(flagsSet([])).toEqual(['SET --heap-growing-percent=75']);
  });
  it.each([['--heap-growing-percent=10'], ['--heap_growing_percent=10']])(
    'leaves node’s own %s alone',
    (flag) => {
      expect(flagsSet([flag])).toEqual([]);
    },
  );
});
