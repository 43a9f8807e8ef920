// Helpers for tests that build, unpack and serve bundles.
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import {
  type ExportDeps,
  type ExportRequest,
  type ExportResult,
  exportMailbox,
} from '../../shared/bundle/export';

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

/** A Lambda's bundle, built as NodejsFunction builds it (cdk/constructs/archiver-function.ts), CommonJS. */
export function buildLambdaBundle(name: string, outfile: string): Promise<void> {
  return buildNodeBundle(resolve(import.meta.dirname, '../../lambdas', name, 'index.ts'), outfile);
}

/** Any entry point bundled with the Lambdas' esbuild options. */
export async function buildNodeBundle(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    outfile,
    logLevel: 'silent',
  });
}
