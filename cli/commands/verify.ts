// `mail-archiver verify`: a bundle re-hashed against its manifest, and the maildir rules checked.
import { createReadStream } from 'node:fs';
import type { Command } from 'commander';
import { verifyBundle } from '../../shared/bundle/verify';

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('re-hash every message of a bundle against its manifest and check the maildir rules')
    .argument('<bundle>', 'bundle file (.tar.gz)')
    .action(async (bundle: string) => {
      const report = await verifyBundle(createReadStream(bundle));
      if (report.ok) {
        console.log(`${bundle}: OK, ${report.messages} messages match the manifest and the maildir rules`);
        return;
      }
      console.log(`${bundle}: ${report.errors.length} problems`);
      for (const error of report.errors) console.log(`  ${error}`);
      process.exitCode = 1;
    });
}
