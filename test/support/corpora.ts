// Real third-party messages beside the repository (../shared/corpora). Tests that use them skip, saying so,
// when the folder is absent.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

/** MAIL_ARCHIVER_CORPORA, else `shared/corpora` beside the checkout (or beside its worktree folder). */
export const CORPORA_DIR =
  process.env.MAIL_ARCHIVER_CORPORA ??
  [
    resolve(import.meta.dirname, '../../../shared/corpora'),
    resolve(import.meta.dirname, '../../../../shared/corpora'),
  ].find((dir) => existsSync(dir)) ??
  resolve(import.meta.dirname, '../../../shared/corpora');

export function corpusMessages(): string[] {
  if (!existsSync(CORPORA_DIR)) return [];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (!/^(LICENSE|README)/i.test(name)) out.push(path);
    }
  };
  walk(CORPORA_DIR);
  return out;
}

export const corporaPresent = existsSync(CORPORA_DIR);
export const corporaSkipReason = `SKIPPED: ${CORPORA_DIR} is not present (real-mail corpora live beside the repository)`;
export const corpusName = (path: string) => relative(CORPORA_DIR, path);
