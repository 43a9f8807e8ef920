// `verify --checkpoint/--key/--previous/--tsa-ca` read files the user names, which may be anything: a file far larger
// than a checkpoint (or a device that never ends) is refused by name with one line, before it is read whole.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../../../..');
const dir = mkdtempSync(join(tmpdir(), 'verify-trust-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function verify(...args: string[]): Promise<{ stderr: string; code: number }> {
  try {
    const { stderr } = await run('node', [join(ROOT, 'cli/bin.js'), 'verify', ...args], {
      cwd: ROOT,
      env: { ...process.env, MAIL_ARCHIVER_HOME: dir, CI: 'true', NO_COLOR: '1' },
    });
    return { stderr, code: 0 };
  } catch (error) {
    const e = error as { stderr: string; code: number };
    return { stderr: e.stderr, code: e.code };
  }
}

describe('verify --checkpoint with a file that cannot be a checkpoint', () => {
  it('refuses a huge file or an endless device by name, in one line, without reading it whole', async () => {
    const huge = join(dir, 'huge-checkpoint');
    writeFileSync(huge, Buffer.alloc(3 * 1024 * 1024, 'A'));
    const key = join(dir, 'key.pub');
    writeFileSync(key, 'example.com/mail-archiver/local+01234567+AQ==\n');
    const bundle = join(dir, 'missing.tar.gz');
    for (const checkpoint of [huge, '/dev/zero']) {
      const { stderr, code } = await verify(bundle, '--checkpoint', checkpoint, '--key', key);
      expect(code).toBe(1);
      expect(stderr).toContain(`${checkpoint} (--checkpoint): over 1 MiB, not a checkpoint`);
      expect(stderr).not.toMatch(/^\s+at /m);
    }
  }, 60_000);
});
