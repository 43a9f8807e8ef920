// doctor's check of the keys exports are encrypted to (export.recipients in the config).
import type { ArchiverConfig } from '../../shared/config';
import type { Check } from './check';

/**
 * One key is a single point of loss (lose it and every bundle encrypted to it is gone), so two are recommended:
 * a daily key and a paper key in a safe (docs/keys.md). None: exports are plain, which is a choice, not a fault.
 */
export function exportRecipientsCheck(config: Pick<ArchiverConfig, 'export'>): Check {
  const name = 'export encryption';
  const count = config.export.recipients?.length ?? 0;
  if (count === 0)
    return { name, status: 'ok', detail: 'off: exports are plain .tar.gz unless --encrypt-to is given' };
  if (count === 1)
    return {
      name,
      status: 'warn',
      detail:
        'export.recipients names one key: if it is lost, every bundle encrypted to it is lost with it (the archive in S3 is not)',
      fix: 'add a second recipient, a paper key kept in a safe: mail-archiver keygen --out paper-key.txt --paper',
    };
  return { name, status: 'ok', detail: `encrypted with age to ${count} recipients` };
}
