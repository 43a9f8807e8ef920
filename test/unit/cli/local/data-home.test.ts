// Where the local archive lives: the platform default, MAIL_ARCHIVER_HOME, and an archive at the old place.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  dataHomeSize,
  platformDataDir,
  resolveConfigPath,
  resolveDataHome,
} from '../../../../cli/local/data-home';

let root: string;
let home: string;
let checkout: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'mail-archiver-home-'));
  home = join(root, 'home');
  checkout = join(root, 'checkout');
  mkdirSync(home);
  mkdirSync(checkout);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('the data directory', () => {
  it('is the XDG user data directory on Linux, ~/.local/share when XDG_DATA_HOME is unset or relative', () => {
    expect(platformDataDir({ platform: 'linux', home, env: { XDG_DATA_HOME: '/srv/data' } })).toBe(
      '/srv/data/mail-archiver',
    );
    expect(platformDataDir({ platform: 'linux', home, env: {} })).toBe(
      join(home, '.local/share/mail-archiver'),
    );
    expect(platformDataDir({ platform: 'linux', home, env: { XDG_DATA_HOME: 'rel/dir' } })).toBe(
      join(home, '.local/share/mail-archiver'),
    );
    expect(platformDataDir({ platform: 'darwin', home, env: {} })).toBe(
      join(home, 'Library/Application Support/mail-archiver'),
    );
  });

  it('is never the checkout by default, so git clean cannot delete it', () => {
    const resolved = resolveDataHome({ platform: 'linux', home, env: {}, cwd: checkout });
    expect(resolved).toEqual({ path: join(home, '.local/share/mail-archiver'), source: 'default' });
  });

  it('is MAIL_ARCHIVER_HOME when set, relative to the working directory', () => {
    const resolved = resolveDataHome({ home, env: { MAIL_ARCHIVER_HOME: 'data' }, cwd: checkout });
    expect(resolved).toEqual({ path: join(checkout, 'data'), source: 'MAIL_ARCHIVER_HOME' });
  });

  it('keeps using an archive at the old place, saying how to move it, until the new place exists', () => {
    mkdirSync(join(checkout, '.mail-archiver/dynamodb'), { recursive: true });
    const context = { platform: 'linux' as const, home, env: {}, cwd: checkout };
    const legacy = resolveDataHome(context);
    expect(legacy.path).toBe(join(checkout, '.mail-archiver'));
    expect(legacy.source).toBe('legacy');
    expect(legacy.notice).toContain(
      `mv "${join(checkout, '.mail-archiver')}" "${join(home, '.local/share/mail-archiver')}"`,
    );
    expect(legacy.notice).toContain('git clean -fdx');
    // Once moved (the new place exists), the new place wins and the old one is named as unused.
    mkdirSync(join(home, '.local/share/mail-archiver'), { recursive: true });
    const moved = resolveDataHome(context);
    expect(moved.path).toBe(join(home, '.local/share/mail-archiver'));
    expect(moved.notice).toContain('NOT being used');
  });

  it('ignores an empty ./.mail-archiver', () => {
    mkdirSync(join(checkout, '.mail-archiver'));
    expect(resolveDataHome({ platform: 'linux', home, env: {}, cwd: checkout }).source).toBe('default');
  });
});

describe('the config file', () => {
  it('is --config, else MAIL_ARCHIVER_CONFIG, else ./mail-archiver.config.json, else the one in the data directory', () => {
    const context = { platform: 'linux' as const, home, env: {}, cwd: checkout };
    expect(resolveConfigPath('x.json', context).path).toBe(join(checkout, 'x.json'));
    expect(
      resolveConfigPath(undefined, { ...context, env: { MAIL_ARCHIVER_CONFIG: '/etc/ma.json' } }).path,
    ).toBe('/etc/ma.json');
    const inHome = join(home, '.local/share/mail-archiver/mail-archiver.config.json');
    // Neither exists: the answer is the working directory's, and both places are listed for the error.
    expect(resolveConfigPath(undefined, context)).toEqual({
      path: join(checkout, 'mail-archiver.config.json'),
      looked: [join(checkout, 'mail-archiver.config.json'), inHome],
    });
    mkdirSync(join(home, '.local/share/mail-archiver'), { recursive: true });
    writeFileSync(inHome, '{}');
    expect(resolveConfigPath(undefined, context).path).toBe(inHome);
    writeFileSync(join(checkout, 'mail-archiver.config.json'), '{}');
    expect(resolveConfigPath(undefined, context).path).toBe(join(checkout, 'mail-archiver.config.json'));
  });
});

describe("the data directory's size (status)", () => {
  it('adds the bytes of every file under it, and stops at its bound with a lower bound', () => {
    expect(dataHomeSize(join(root, 'not-yet'))).toEqual({ bytes: 0, complete: true });
    // 2 folders and 7 files of 100 bytes, one folder inside another: 10 entries.
    mkdirSync(join(home, 's3', 'bucket'), { recursive: true });
    mkdirSync(join(home, 'dynamodb'));
    for (let i = 0; i < 5; i++) writeFileSync(join(home, 's3', 'bucket', `object-${i}`), Buffer.alloc(100));
    writeFileSync(join(home, 'dynamodb', 'table.db'), Buffer.alloc(100));
    writeFileSync(join(home, 'stack.json'), Buffer.alloc(100));
    expect(dataHomeSize(home)).toEqual({ bytes: 700, complete: true });
    expect(dataHomeSize(home, 10)).toEqual({ bytes: 700, complete: true });
    const bounded = dataHomeSize(home, 9);
    expect(bounded.complete).toBe(false);
    expect(bounded.bytes).toBeLessThan(700);
    expect(bounded.bytes % 100).toBe(0);
  });
});
