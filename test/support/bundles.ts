// Helpers for tests that build, unpack and serve bundles.
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type ExportDeps, type ExportRequest, type ExportResult, exportMailbox } from '../../shared/export';

export async function exportToFile(
  deps: ExportDeps,
  request: ExportRequest,
  path: string,
): Promise<ExportResult> {
  return exportMailbox(deps, request, createWriteStream(path));
}

/** Unpacks with the system tar, as the bundle's README tells a user to. */
export function unpack(bundle: string, dir: string): string {
  mkdirSync(dir, { recursive: true });
  execFileSync('tar', ['-xzf', bundle, '-C', dir, '--no-same-owner']);
  return join(dir, 'Maildir');
}
