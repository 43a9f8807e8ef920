// What ships imports only what ships: every package that our own code in a Lambda bundle or on the CLI's run-time
// path imports is a dependency in package.json, never a devDependency, and mailparser (a test and benchmark
// tool: the benchmark's baseline and the faithful-forwarding tests' reader) is in none of them, not even through
// another package. esbuild reads the import graph as the Lambda bundling does (every static import and every
// import() of a literal); `createRequire` lookups are not followed (cli/local/services.ts resolves s3rver and
// amplify-dynamodb-simulator that way, both dependencies).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const LAMBDAS = readdirSync(join(ROOT, 'lambdas'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && entry.name !== 'shared')
  .map((entry) => `lambdas/${entry.name}/index.ts`);
// cli/bin.js runs dist/cli.js, the esbuild bundle of cli/main.ts (packages left external, so they must be
// dependencies), or cli/main.ts itself through tsx (a devDependency, for development): every command is there.
const CLI = 'cli/main.ts';

/** The import graph of `entry` (a file, or source text resolved from the repository root). */
async function graph(entry: string | { contents: string }): Promise<Metafile> {
  const { metafile } = await build({
    ...(typeof entry === 'string'
      ? { entryPoints: [join(ROOT, entry)] }
      : { stdin: { contents: entry.contents, resolveDir: ROOT, loader: 'ts' } }),
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    outdir: join(ROOT, '.bundle-graph'),
    logLevel: 'silent',
  });
  return metafile;
}

const packageOf = (specifier: string) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');

/** Packages our own files import (not those a package imports in turn). */
function importedPackages(metafile: Metafile): string[] {
  const names = new Set<string>();
  for (const [file, input] of Object.entries(metafile.inputs)) {
    if (file.includes('node_modules/')) continue;
    for (const imported of input.imports)
      if (imported.path.includes('node_modules/')) names.add(packageOf(imported.original ?? imported.path));
  }
  return [...names].sort();
}

const includesMailparser = (metafile: Metafile) =>
  Object.keys(metafile.inputs).some((file) => file.includes('node_modules/mailparser/'));

describe('what ships imports only what ships', () => {
  it.each([...LAMBDAS, CLI])('%s imports dependencies only, and never mailparser', async (entry) => {
    const metafile = await graph(entry);
    const packages = importedPackages(metafile);
    expect(packages.length).toBeGreaterThan(0);
    expect(packages.filter((name) => !(name in pkg.dependencies))).toEqual([]);
    expect(includesMailparser(metafile)).toBe(false);
  });

  it('mailparser is a devDependency, and the check finds it where it is imported', async () => {
    expect(pkg.devDependencies.mailparser).toBeDefined();
    expect(pkg.dependencies.mailparser).toBeUndefined();
    const metafile = await graph({ contents: "export { simpleParser } from 'mailparser';" });
    expect(includesMailparser(metafile)).toBe(true);
  });
});
