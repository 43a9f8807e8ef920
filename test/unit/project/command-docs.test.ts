// The README's command table is generated from the CLI's commander definitions (scripts/command-docs.ts): this
// fails when a command is added, renamed or described anew and `npm run command-docs` was not run, and when
// docs/command-line.md, which documents every command in detail, leaves one out.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../../cli/main';
import { commandTable, ROOT, withCommandTable } from '../../../scripts/command-docs';

describe('the command documentation', () => {
  it("the README's command table is what the CLI's own definitions generate", async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toBe(withCommandTable(readme, commandTable(await buildProgram())));
  });

  it('has one line per registered command, with its arguments and aliases', async () => {
    const program = await buildProgram();
    const lines = commandTable(program).split('\n').slice(2);
    expect(lines).toHaveLength(program.commands.length);
    expect(lines).toContain(
      '| `import <path...>` (alias `ingest`) | archive .eml files, directories of them, maildirs and mbox files through the same path as SES mail |',
    );
    for (const [i, command] of program.commands.entries())
      expect(lines[i]).toMatch(new RegExp(`^\\| \`${command.name()}[ \`]`));
  });

  it('docs/command-line.md describes every command', async () => {
    const doc = readFileSync(join(ROOT, 'docs/command-line.md'), 'utf8');
    const described = [...doc.matchAll(/^\| `([a-z-]+)[ `]/gm)].map((m) => m[1]);
    const missing = (await buildProgram()).commands
      .map((c) => c.name())
      .filter((name) => !described.includes(name));
    expect(missing).toEqual([]);
  });
});
