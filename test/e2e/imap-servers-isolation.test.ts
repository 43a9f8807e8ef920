// Cyrus's master sends SIGTERM to its whole process group when it shuts down (master/master.c begin_shutdown:
// kill(0, SIGTERM)), as the service user Dovecot runs as too. Started in the test runner's process group, stopping
// one Cyrus stopped every Dovecot of the run's other test files (seen as a flaky import test under load). The
// test servers run in their own process group; this test starts a Dovecot, stops a Cyrus and checks Dovecot lives.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type DovecotServer, startDovecot, tryLogin } from '../../cli/local/dovecot';
import { startCyrus } from '../support/imap-servers';

let work: string;
let dovecot: DovecotServer | undefined;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'mail-archiver-imap-isolation-'));
});

afterAll(async () => {
  await dovecot?.stop();
  rmSync(work, { recursive: true, force: true });
});

it('stopping Cyrus leaves a Dovecot of the same run serving', async (context) => {
  const cyrus = await startCyrus(join(work, 'cyrus'));
  if ('skip' in cyrus) {
    console.warn(`skipped: ${cyrus.skip}`);
    context.skip();
    return;
  }
  const maildir = join(work, 'Maildir');
  for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(maildir, sub), { recursive: true });
  dovecot = await startDovecot({ maildir, workDir: join(work, 'dovecot') });
  let ended: string | undefined;
  void dovecot.exited.then((how) => {
    ended = how;
  });
  await cyrus.stop();
  // Dovecot takes about a second to exit after SIGTERM: wait past that before asking.
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  expect(ended).toBeUndefined();
  expect(await tryLogin(dovecot.port, dovecot.user, dovecot.password)).toBe('ok');
}, 60_000);
