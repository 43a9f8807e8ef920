// The code map's two guards, checked over the source. No import cycle among the non-test sources (type-only
// imports count: a cycle of types still ties two modules' meanings together), found by dependency-cruiser over the
// TypeScript sources. No source file over 450 lines outside test/ and the benchmark scripts: a file holds one
// concern, and past that length it holds several.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { cruise, type ICruiseOptions, type IViolation } from 'dependency-cruiser';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const SOURCE_FOLDERS = ['cdk', 'cli', 'lambdas', 'shared', 'scripts'];
const MAX_LINES = 450;

/** Files allowed past MAX_LINES for now, each with the reason and who removes the entry. */
const OVER_LENGTH_FOR_NOW: Record<string, string> = {};

/** Benchmark scripts measure; they are exempt like tests. */
const isBenchmark = (path: string): boolean => /^scripts\/bench[^/]*\.ts$/.test(path);

/** The cycles among the modules under `folders` (paths relative to ROOT), one line per cycle. */
async function importCycles(folders: string[], exclude: string[] = []): Promise<string[]> {
  const options: ICruiseOptions = {
    baseDir: ROOT,
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['node_modules', ...exclude] },
    validate: true,
    ruleSet: { forbidden: [{ name: 'no-cycle', severity: 'error', from: {}, to: { circular: true } }] },
  };
  const result = await cruise(folders, options, { extensions: ['.ts', '.js', '.mjs', '.json'] });
  if (typeof result.output === 'string') throw new Error('dependency-cruiser returned text, not a result');
  const cycles = result.output.summary.violations.map((violation: IViolation) =>
    [violation.from, ...(violation.cycle ?? []).map((step) => step.name)].join(' -> '),
  );
  return [...new Set(cycles)].sort();
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sourceFiles(path);
    return /\.(ts|js|mjs|sh)$/.test(entry.name) ? [path] : [];
  });
}

const lineCount = (text: string): number => text.split('\n').length - (text.endsWith('\n') ? 1 : 0);

describe('the code map', () => {
  it('finds a cycle when there is one (a deliberate pair in test/fixtures/import-cycle)', async () => {
    expect(await importCycles(['test/fixtures/import-cycle'])).toEqual([
      'test/fixtures/import-cycle/a.ts -> test/fixtures/import-cycle/b.ts -> test/fixtures/import-cycle/a.ts',
    ]);
  });

  it('has no import cycle among the non-test sources', async () => {
    expect(await importCycles(SOURCE_FOLDERS, ['^test/'])).toEqual([]);
  });

  it(`has no source file over ${MAX_LINES} lines outside test/ and the benchmark scripts`, () => {
    const files = SOURCE_FOLDERS.flatMap(sourceFiles).map((path) => relative('.', path));
    const over = files
      .filter((path) => !isBenchmark(path))
      .map((path) => ({ path, lines: lineCount(readFileSync(join(ROOT, path), 'utf8')) }))
      .filter(({ path, lines }) => lines > MAX_LINES && !(path in OVER_LENGTH_FOR_NOW))
      .map(({ path, lines }) => `${path}: ${lines} lines`);
    expect(over).toEqual([]);
  });

  it('lists no file as over-length for now that is no longer over the limit (the entry goes with the split)', () => {
    const stale = Object.keys(OVER_LENGTH_FOR_NOW).filter(
      (path) =>
        !existsSync(join(ROOT, path)) || lineCount(readFileSync(join(ROOT, path), 'utf8')) <= MAX_LINES,
    );
    expect(stale).toEqual([]);
  });
});
