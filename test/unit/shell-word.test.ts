// A word quoted for a POSIX shell is read back by sh as that one word, whatever it holds.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { shellLine, shellWord } from '../../shared/shell-word';

describe('shellWord', () => {
  it('leaves a plain word alone and single-quotes the rest', () => {
    expect(shellWord('/home/a/cli/bin.js')).toBe('/home/a/cli/bin.js');
    expect(shellWord('--subject')).toBe('--subject');
    expect(shellWord('hello world')).toBe("'hello world'");
    expect(shellWord("it's")).toBe("'it'\\''s'");
    expect(shellWord('')).toBe("''");
  });

  it('sh reads each word back as it was', () => {
    const words = [
      'a b',
      "it's",
      '',
      '$HOME',
      '`id`',
      'x*',
      'ü "q" \\n',
      'tab\there',
      'line\nbreak',
      ';|&<>()',
    ];
    const read = execFileSync('sh', ['-c', `printf '%s\\0' ${shellLine(words)}`], { encoding: 'utf8' });
    expect(read.split('\0').slice(0, -1)).toEqual(words);
  });
});
