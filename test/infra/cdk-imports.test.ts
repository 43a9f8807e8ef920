// The CDK app's import graph: the stack is built from the config and the key layout, never from the archive's
// code (ingest, the MIME parser, the adapters and their AWS SDK clients). Read from esbuild's metafile of
// cdk/app.ts, as `cdk synth` would load it.
import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

async function cdkAppGraph(): Promise<{ modules: string[]; packages: string[] }> {
  const { metafile } = await build({
    absWorkingDir: ROOT,
    entryPoints: ['cdk/app.ts'],
    bundle: true,
    platform: 'node',
    format: 'esm',
    write: false,
    metafile: true,
    packages: 'external',
    logLevel: 'silent',
  });
  const modules = Object.keys(metafile.inputs).sort();
  const packages = new Set<string>();
  for (const input of Object.values(metafile.inputs))
    for (const imported of input.imports)
      if (imported.external && !imported.path.startsWith('node:'))
        packages.add(
          imported.path
            .split('/')
            .slice(0, imported.path.startsWith('@') ? 2 : 1)
            .join('/'),
        );
  return { modules, packages: [...packages].sort() };
}

describe("the CDK app's import graph", () => {
  it('holds the stack, its constructs, the config and the key layout, and nothing of the archive itself', async () => {
    const { modules } = await cdkAppGraph();
    const outsideCdk = modules.filter((m) => !m.startsWith('cdk/'));
    expect(outsideCdk).toEqual([
      'lambdas/shared/environment.ts',
      'shared/aws-names.ts',
      // The config's export section and the shape of its recipients (the age library itself is not loaded).
      'shared/bundle/age-recipient.ts',
      'shared/bundle/export-config.ts',
      'shared/config.ts',
      'shared/errors.ts',
      'shared/health/config.ts',
      'shared/index/schema.ts',
      'shared/mail/address.ts',
      'shared/metrics.ts',
      'shared/retention/archive-config.ts',
      'shared/retention/replica.ts',
      'shared/transparency/config.ts',
    ]);
  });

  it('loads no AWS SDK client and no mail parser', async () => {
    const { packages } = await cdkAppGraph();
    expect(
      packages.filter((p) => p.startsWith('@aws-sdk/') || /mailparser|mailsplit|libmime/.test(p)),
    ).toEqual([]);
    expect(packages).toEqual(expect.arrayContaining(['aws-cdk-lib', 'constructs']));
  });
});
