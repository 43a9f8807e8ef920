// The error convention (shared/errors.ts), checked over the source: every error class ends in `Error` and sets
// `name` to its own name, so logs and `instanceof`-free checks (across bundles) can tell errors apart; no `catch`
// casts what it caught to Error.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..', '..');

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

const files = ['shared', 'cli', 'lambdas'].flatMap(sources);

describe('the error convention', () => {
  it('every error class ends in Error and sets name to its own name', () => {
    const problems: string[] = [];
    for (const file of files) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      for (const match of text.matchAll(/class (\w+) extends (\w*Error)\b[^{]*\{([\s\S]*?)\n\}/g)) {
        const [, name, , body] = match;
        if (!name?.endsWith('Error')) problems.push(`${file}: ${name} does not end in Error`);
        if (!body?.includes(`name = '${name}'`))
          problems.push(`${file}: ${name} does not set name = '${name}'`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('no caught value is cast to Error (shared/errors.ts reads it)', () => {
    const casts = files.filter((file) =>
      /\berror as Error\b(?! &)/.test(readFileSync(join(ROOT, file), 'utf8')),
    );
    expect(casts).toEqual([]);
  });
});
