// Helpers for tests that build, unpack and serve bundles.
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import {
  type ExportDeps,
  type ExportRequest,
  type ExportResult,
  exportMailbox,
} from '../../shared/bundle/export';
import type { BundleManifest } from '../../shared/bundle/manifest';

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

/**
 * A bundle unpacked into `dir` (GNU tar), with bundle folder `from` renamed `to` in the manifest (verify still
 * passes: the manifest's folder names are not in the maildir's file names), as restore's directory source.
 */
export function unpackedWithFolderRenamed(bundle: string, dir: string, from: string, to: string) {
  mkdirSync(dir, { recursive: true });
  execFileSync('tar', ['-xzf', bundle, '-C', dir, '--no-same-owner']);
  const path = join(dir, 'manifest.json');
  const { mtime } = statSync(path);
  const edited = JSON.parse(readFileSync(path, 'utf8')) as BundleManifest;
  for (const f of edited.folders) if (f.name === from) f.name = to;
  for (const m of edited.messages) if (m.folder === from) m.folder = to;
  writeFileSync(path, JSON.stringify(edited));
  utimesSync(path, mtime, mtime);
  return { kind: 'directory' as const, path: dir };
}
