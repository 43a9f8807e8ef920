import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readIfExists } from '../../../shared/adapters/read-if-exists';

describe('readIfExists', () => {
  it('reads bytes or text, and gives undefined only for a file that does not exist', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'read-if-exists-'));
    await writeFile(join(dir, 'a'), 'é\n');
    expect(await readIfExists(join(dir, 'a'))).toEqual(Buffer.from('é\n'));
    expect(await readIfExists(join(dir, 'a'), 'utf8')).toBe('é\n');
    expect(await readIfExists(join(dir, 'missing'), 'utf8')).toBeUndefined();
    // A directory where a state file should be is not a first run: the error comes through.
    await expect(readIfExists(dir, 'utf8')).rejects.toMatchObject({ code: 'EISDIR' });
  });
});
