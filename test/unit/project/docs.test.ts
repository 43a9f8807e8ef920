// The docs name only what exists: every relative link (and its #anchor) in README.md, CONTRIBUTING.md and docs/,
// every repository path they mention, every `npm run` script and every `mail-archiver` command. A file moved, a
// heading renamed or a command dropped fails here instead of leaving a stale page.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../../cli/main';

const ROOT = join(import.meta.dirname, '../../..');
const PAGES = [
  'README.md',
  'CONTRIBUTING.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];
const read = (page: string) => readFileSync(join(ROOT, page), 'utf8');

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replaceAll(' ', '-');
}

function anchorsOf(page: string): Set<string> {
  const text = read(page).replace(/^```[\s\S]*?^```/gm, '');
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchor(m[1] ?? '')));
}

/** Text inside code spans and fenced blocks, where commands are written. */
function code(text: string): string[] {
  return [...text.matchAll(/^```[\s\S]*?^```|`[^`\n]+`/gm)].map((m) => m[0]);
}

describe('the documentation', () => {
  it('links only to files and headings that exist', () => {
    const broken: string[] = [];
    for (const page of PAGES) {
      for (const [, target] of read(page).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (!target || /^[a-z]+:/.test(target)) continue;
        const [path, hash] = target.split('#') as [string, string | undefined];
        const file = path ? relative(ROOT, join(ROOT, dirname(page), path)) : page;
        if (!existsSync(join(ROOT, file))) broken.push(`${page}: ${target} (no ${file})`);
        else if (hash && file.endsWith('.md') && !anchorsOf(file).has(hash))
          broken.push(`${page}: ${target} (no heading #${hash} in ${file})`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('names only repository paths that exist', () => {
    const missing: string[] = [];
    const pathPattern = /(?<![\w./~-])((?:cdk|lambdas|shared|cli|scripts|test|docs|\.ci)\/[\w./-]*)(.?)/g;
    for (const page of PAGES) {
      for (const [, path, next] of read(page).matchAll(pathPattern)) {
        if (!path || (next && '<*{'.includes(next))) continue; // a pattern (`lambdas/<name>/`), not a path
        const file = path.replace(/\.+$/, '');
        if (!existsSync(join(ROOT, file))) missing.push(`${page}: ${file}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('names only npm scripts and CLI commands that exist', async () => {
    const scripts = Object.keys(
      (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts,
    );
    const commands = (await buildProgram()).commands.flatMap((c) => [c.name(), ...c.aliases()]);
    const unknown: string[] = [];
    for (const page of PAGES) {
      for (const span of code(read(page))) {
        for (const [, script] of span.matchAll(/npm run ([\w:-]+)/g))
          if (script && !scripts.includes(script)) unknown.push(`${page}: npm run ${script}`);
        for (const [, command] of span.matchAll(/mail-archiver ([a-z][\w-]*)/g))
          if (command && !commands.includes(command)) unknown.push(`${page}: mail-archiver ${command}`);
      }
    }
    expect(unknown).toEqual([]);
  });
});
