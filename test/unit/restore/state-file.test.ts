// The restore state file (shared/restore/state-file.ts): what earlier runs appended, read back under the same
// UIDVALIDITY only, surviving a torn last line; nothing written in a dry run; an unwritable place said up front.
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BundleManifest, ManifestMessage } from '../../../shared/bundle/manifest';
import { RestoreStateError } from '../../../shared/restore/errors';
import type { FolderRun, Planned } from '../../../shared/restore/plan';
import { StateFile } from '../../../shared/restore/state-file';

const manifest = { mailbox: 'alice@example.com', createdAt: '2024-03-01T09:00:00.000Z' } as BundleManifest;

function message(uid: number, sha256 = String(uid).padStart(64, 'a')): ManifestMessage {
  return {
    folder: 'INBOX',
    uid,
    file: `Maildir/cur/${uid}`,
    sha256,
    size: 10,
    storage: 'as-is',
    receivedAt: '2024-03-01T09:00:00.000Z',
    flags: [],
  };
}

function run(uidValidity: bigint | undefined): FolderRun {
  return {
    name: 'INBOX',
    target: 'INBOX',
    match: 'inbox',
    messages: [],
    claimed: new Set(),
    unclaimed: new Map(),
    ...(uidValidity === undefined ? {} : { uidValidity }),
  };
}

function planned(m: ManifestMessage, targetUid?: number): Planned {
  return {
    message: m,
    imapSize: 10,
    imapSha256: m.sha256,
    flags: [],
    internalDateSecs: 0,
    state: 'moved',
    changes: { highBitHeaderBytes: 0, noFinalLineEnd: false },
    ...(targetUid === undefined ? {} : { targetUid }),
  };
}

let dir: string;
let path: string;
let open: StateFile[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'restore-state-'));
  path = join(dir, 'sub', 'state.jsonl');
});
afterEach(async () => {
  for (const state of open) await state.close();
  open = [];
});
async function openState(dryRun = false) {
  const state = await StateFile.open(path, manifest, dryRun);
  open.push(state);
  return state;
}

describe('StateFile', () => {
  it('starts a new file (0600, its directory made) with a header naming the bundle, then one line per append', async () => {
    const state = await openState();
    await state.record(run(77n), planned(message(1), 501));
    await state.close();
    const lines = readFileSync(path, 'utf8').split('\n');
    expect(JSON.parse(lines[0] ?? '')).toEqual({
      version: 1,
      mailbox: 'alice@example.com',
      bundleCreatedAt: '2024-03-01T09:00:00.000Z',
    });
    expect(JSON.parse(lines[1] ?? '')).toEqual({ f: 'INBOX', u: 1, h: message(1).sha256, v: '77', t: 501 });
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('finds a recorded message on a later run under the same UIDVALIDITY only, by folder, UID and sha256', async () => {
    const first = await openState();
    await first.record(run(77n), planned(message(1), 501));
    await first.record(run(77n), planned(message(2), 502));
    await first.close();
    const later = await openState();
    expect(later.lookup('INBOX', message(1), 77n)).toBe(501);
    expect(later.lookup('INBOX', message(2), 77n)).toBe(502);
    expect(
      later.lookup('INBOX', message(1), 78n),
      'UIDVALIDITY changed: the UIDs mean nothing',
    ).toBeUndefined();
    expect(later.lookup('Sent', message(1), 77n)).toBeUndefined();
    expect(
      later.lookup('INBOX', message(1, 'b'.repeat(64)), 77n),
      'other bytes under that UID',
    ).toBeUndefined();
  });

  it("records nothing without a target UID (no UIDPLUS) or without the folder's UIDVALIDITY", async () => {
    const state = await openState();
    await state.record(run(77n), planned(message(1)));
    await state.record(run(undefined), planned(message(2), 9));
    await state.close();
    expect(readFileSync(path, 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('ignores a torn last line (a killed run) and ends it before adding more', async () => {
    const first = await openState();
    await first.record(run(77n), planned(message(1), 501));
    await first.close();
    writeFileSync(path, `${readFileSync(path, 'utf8')}{"f":"INBOX","u":2,"h":"`, { flag: 'w' });
    const second = await openState();
    expect(second.lookup('INBOX', message(1), 77n)).toBe(501);
    expect(second.lookup('INBOX', message(2), 77n)).toBeUndefined();
    await second.record(run(77n), planned(message(3), 503));
    await second.close();
    const third = await openState();
    expect(third.lookup('INBOX', message(3), 77n)).toBe(503);
    expect(readFileSync(path, 'utf8').split('\n').at(-2)).toBe(
      JSON.stringify({ f: 'INBOX', u: 3, h: message(3).sha256, v: '77', t: 503 }),
    );
  });

  it('in a dry run reads what is there and writes nothing (not even a new file)', async () => {
    const state = await openState(true);
    await state.record(run(77n), planned(message(1), 501));
    await state.close();
    expect(() => statSync(path)).toThrow();
  });

  it('checkWritable says where it cannot write, and what to do, before anything else runs', async () => {
    const blocker = join(dir, 'a-file');
    writeFileSync(blocker, 'x');
    const error = await StateFile.checkWritable(join(blocker, 'state.jsonl')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RestoreStateError);
    expect((error as Error).message).toMatch(
      /cannot write the restore state file .*a-file\/state\.jsonl \(E\w+\): give a writable place with --state FILE/,
    );
    await StateFile.checkWritable(path);
    expect(statSync(path).isFile()).toBe(true);
  });
});
