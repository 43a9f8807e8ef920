// What export encrypts to and what verify, serve and restore open bundles with, from the command line's options
// and the config; and doctor's word on the number of recipients.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { exportRecipientsCheck } from '../../../../cli/doctor/export-encryption';
import { UserError } from '../../../../cli/process/output';
import { BUNDLE_PASSPHRASE_ENV, bundleKeys, exportEncryption } from '../../../../cli/target/bundle-keys';
import { newIdentity } from '../../../../shared/bundle/age';
import { ConfigError, loadConfig, parseConfig } from '../../../../shared/config';
import { exampleConfig } from '../../../support/config';

const withRecipients = (recipients: string[]) => ({ ...exampleConfig(), export: { recipients } });

afterEach(() => {
  delete process.env[BUNDLE_PASSPHRASE_ENV];
});

describe('export encryption from options and config', () => {
  it('takes --encrypt-to over the config, the config otherwise, and nothing with --no-encrypt', async () => {
    const [a, b] = [await newIdentity(), await newIdentity()];
    const config = withRecipients([a.recipient]);
    expect(await exportEncryption({ encryptTo: [b.recipient] }, config, 'aws')).toEqual({
      recipients: [b.recipient],
    });
    expect(await exportEncryption({}, config, 'aws')).toEqual({ recipients: [a.recipient] });
    expect(await exportEncryption({ encrypt: false }, config, 'local')).toBeUndefined();
    expect(await exportEncryption({}, withRecipients([]), 'local')).toBeUndefined();
  });

  it('refuses a passphrase on AWS (the function would hold it) and a recipient that is not one', async () => {
    process.env[BUNDLE_PASSPHRASE_ENV] = 'pass';
    await expect(exportEncryption({ encryptPassphrase: true }, undefined, 'aws')).rejects.toThrow(
      /a passphrase cannot encrypt an export on AWS/,
    );
    expect(
      await exportEncryption({ encryptPassphrase: true, scryptWorkFactor: 12 }, undefined, 'local'),
    ).toEqual({ passphrase: 'pass', workFactor: 12 });
    const bad = await exportEncryption({ encryptTo: ['age1nope'] }, undefined, 'local').catch((e) => e);
    expect(bad).toBeInstanceOf(UserError);
    expect(bad.message).toMatch(/--encrypt-to "age1nope" is not an age X25519 recipient/);
  });

  it('the config names a bad recipient by its field', () => {
    const raw = { ...exampleConfig(), export: { recipients: ['ssh-ed25519 AAAA'] } };
    expect(() => parseConfig(raw)).toThrow(ConfigError);
    expect(() => parseConfig(raw)).toThrow(/export\.recipients\.0.*not an age X25519 recipient/s);
  });

  it('the config refuses an empty recipient list by its field (absent is plain; empty is a list left half-edited)', () => {
    expect(loadConfig('mail-archiver.config.json').export.recipients).toBeUndefined(); // absent: plain
    // A parsed config (no recipients) parses again, as tests and callers spread one into another.
    const mailboxes = { 'alice@example.com': { forwardTo: ['alice.example@gmail.com'] } };
    const parsed = parseConfig({ ...exampleConfig(), mailboxes });
    expect(parseConfig({ ...parsed, mailboxes }).export).toEqual(parsed.export);
    const raw = { ...exampleConfig(), export: { recipients: [] } };
    expect(() => parseConfig(raw)).toThrow(
      /export\.recipients: empty: list at least one recipient \(age1\.\.\.\), or remove export\.recipients for plain \.tar\.gz bundles/,
    );
  });
});

describe('bundle keys from --identity files', () => {
  it('reads every identity of every file, and asks for a passphrase once, only when asked', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keys-'));
    const [a, b] = [await newIdentity(), await newIdentity()];
    writeFileSync(join(dir, 'ab.txt'), `${a.fileText}\n${b.fileText}`);
    const keys = await bundleKeys([join(dir, 'ab.txt')]);
    expect(keys.identities.map((i) => i.key)).toEqual([a.identity, b.identity]);
    process.env[BUNDLE_PASSPHRASE_ENV] = 'typed once';
    const first = keys.passphrase?.();
    process.env[BUNDLE_PASSPHRASE_ENV] = 'changed';
    expect([await first, await keys.passphrase?.()]).toEqual(['typed once', 'typed once']);
    await expect(bundleKeys([join(dir, 'missing.txt')])).rejects.toThrow(
      /cannot read the identity file .*missing\.txt: no such file or directory/,
    );
    writeFileSync(join(dir, 'pub.txt'), `${a.recipient}\n`);
    await expect(bundleKeys([join(dir, 'pub.txt')])).rejects.toThrow(UserError);
  });
});

describe('doctor on export.recipients', () => {
  it('warns about a single recipient, and is content with none or two', async () => {
    const [a, b] = [await newIdentity(), await newIdentity()];
    expect(exportRecipientsCheck(withRecipients([a.recipient])).status).toBe('warn');
    expect(exportRecipientsCheck(withRecipients([a.recipient])).fix).toMatch(
      /keygen --out paper-key\.txt --paper/,
    );
    expect(exportRecipientsCheck(withRecipients([a.recipient, b.recipient])).status).toBe('ok');
    expect(exportRecipientsCheck(withRecipients([])).detail).toMatch(/^off/);
  });
});
