// Outside the checkout a bare `npx mail-archiver` asks the npm registry for somebody else's package of that name:
// every command we print or document says `npx --no-install`.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundleReadme } from '../../../shared/bundle/maildir';

const root = join(import.meta.dirname, '..', '..', '..');
const bare = /(?<!bare `)npx mail-archiver/;

function bareInvocations(text: string): string[] {
  return text.split('\n').filter((line) => bare.test(line));
}

describe('documented commands are safe to type anywhere', () => {
  const documents = [
    'README.md',
    'CONTRIBUTING.md',
    ...readdirSync(join(root, 'docs'))
      .filter((name) => name.endsWith('.md'))
      .map((name) => join('docs', name)),
  ];
  for (const document of documents) {
    it(`${document} never shows a bare "npx mail-archiver"`, () => {
      expect(bareInvocations(readFileSync(join(root, document), 'utf8'))).toEqual([]);
    });
  }
  it('the README inside every bundle never shows one either', () => {
    expect(bareInvocations(bundleReadme('alice@example.com'))).toEqual([]);
  });
});
