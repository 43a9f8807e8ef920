// `serve` on a machine shared with others: the staged copy, Dovecot's work directory, its config and its password
// file are private (another local user could read the password from a 0644 file in a world-traversable
// directory and log in); the real Dovecot still serves the copy.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DovecotServer, startDovecot } from '../../cli/local/dovecot';
import { stageMaildir } from '../../cli/local/stage-maildir';
import { goodBundle } from '../support/hostile-bundles';
import { readOverImap } from '../support/imap';

let work: string;
let serveDir: string;
let server: DovecotServer;
const isRoot = process.getuid?.() === 0;
const mode = (path: string) => statSync(path).mode & 0o7777;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'mail-archiver-serve-privacy-'));
  const bundle = await goodBundle(join(work, 'source'));
  // As `serve` does: one private directory holding the copy and Dovecot's files.
  serveDir = mkdtempSync(join(tmpdir(), 'mail-archiver-serve-'));
  const maildir = await stageMaildir(bundle, serveDir);
  server = await startDovecot({ maildir, workDir: join(serveDir, 'dovecot') });
});
afterAll(async () => {
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
  rmSync(serveDir, { recursive: true, force: true });
});

describe('serve keeps its files private', () => {
  it('the password file and the config are 0600, every directory 0700', () => {
    const dovecot = join(serveDir, 'dovecot');
    expect(mode(join(dovecot, 'users'))).toBe(0o600);
    expect(mode(join(dovecot, 'dovecot.conf'))).toBe(0o600);
    for (const dir of [
      serveDir,
      dovecot,
      join(dovecot, 'index'),
      join(dovecot, 'state'),
      join(serveDir, 'bundle'),
    ])
      expect(mode(dir), dir).toBe(0o700);
  });

  it('the staged copy holds only 0700 directories and 0600 files', () => {
    for (const entry of readdirSync(join(serveDir, 'bundle'), { recursive: true, withFileTypes: true })) {
      const path = join(entry.parentPath, entry.name);
      expect(mode(path), path).toBe(entry.isDirectory() ? 0o700 : 0o600);
    }
  });

  it.skipIf(!isRoot)('another local user cannot read the password file or list the copy', () => {
    // nobody: the other user of a shared machine. (Root owns the tree through Dovecot's own user.)
    const as = (args: string[]) =>
      spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', ...args], {
        encoding: 'utf8',
      });
    const read = as(['cat', join(serveDir, 'dovecot', 'users')]);
    expect(read.status).not.toBe(0);
    expect(read.stderr).toMatch(/Permission denied/);
    const list = as(['ls', join(serveDir, 'bundle', 'Maildir', 'cur')]);
    expect(list.status).not.toBe(0);
    // The password is in no file another user can reach, and Dovecot's user is not `nobody`.
    expect(statSync(serveDir).uid).not.toBe(
      Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout),
    );
  });

  it('Dovecot serves the private copy', async () => {
    const served = await readOverImap(server);
    expect(served.byFolder.get('INBOX')?.messages).toHaveLength(3);
  });
});
