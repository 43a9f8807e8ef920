// `mail-archiver verify`: a bundle (or an unpacked bundle directory) re-hashed against its manifest, and the
// maildir rules checked. A missing file, a directory and a file that is no bundle are told apart up front.
import type { Command } from 'commander';
import { openBundle } from '../../shared/bundle/source';
import { verifyBundle } from '../../shared/bundle/verify';
import { out } from '../program';
import { bundleAt } from '../target/bundle-file';
import { addIdentityOption, bundleKeys } from '../target/bundle-keys';

export function registerVerify(program: Command): void {
  addIdentityOption(
    program
      .command('verify')
      .description('re-hash every message of a bundle against its manifest and check the maildir rules')
      .argument(
        '<bundle>',
        'bundle file (.tar.gz, or .tar.gz.age: decrypted as it is read), or the directory it was unpacked into',
      ),
  ).action(async (bundle: string, options: { identity?: string[] }) => {
    const output = out();
    const keys = await bundleKeys(options.identity);
    const report = await verifyBundle(openBundle(await bundleAt(bundle, { keys })));
    output.jsonLine({
      bundle,
      ok: report.ok,
      messages: report.messages,
      errors: report.errors,
      ...(report.manifest ? { manifest: report.manifest } : {}),
    });
    if (report.ok) {
      output.result(`${bundle}: OK, ${report.messages} messages match the manifest and the maildir rules`);
      return;
    }
    output.result(
      `${bundle}: ${report.errors.length} ${report.errors.length === 1 ? 'problem' : 'problems'}`,
    );
    for (const error of report.errors) output.result(`  ${error}`);
    process.exitCode = 1;
  });
}
