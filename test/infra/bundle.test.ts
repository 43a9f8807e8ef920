// The one test that bundles every Lambda for real (esbuild through NodejsFunction): the template tests skip
// bundling. Each function's asset must hold its handler module.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { synthesize, templateJson } from './synth';

const outdir = mkdtempSync(join(tmpdir(), 'archiver-cdk-out-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe('the Lambda bundles', () => {
  it('bundles every function of the stack into an asset with its handler', { timeout: 300_000 }, () => {
    const { app, stack } = synthesize(undefined, { bundle: true, outdir });
    const assembly = app.synth();
    const functions = Object.entries(templateJson(stack).Resources).filter(
      ([, r]) => r.Type === 'AWS::Lambda::Function',
    );
    expect(functions.length).toBeGreaterThanOrEqual(5);
    const manifest = readFileSync(join(assembly.directory, 'TestArchiver.template.json'), 'utf8');
    for (const [id, resource] of functions) {
      if (id.startsWith('AWS679f53fac002430cb0da5b7982bd2287')) continue; // aws-cdk-lib's own, prebuilt
      // A file asset is staged as asset.<hash>/ and uploaded as <hash>.zip.
      const key = JSON.stringify(resource.Properties?.Code).match(/"S3Key":"([0-9a-f]{64})\.zip"/)?.[1];
      expect(key, id).toBeDefined();
      const dir = join(assembly.directory, `asset.${key}`);
      expect(existsSync(join(dir, 'index.js')), `${id} bundle`).toBe(true);
      const code = readFileSync(join(dir, 'index.js'), 'utf8');
      expect(code).toContain('handler');
      // The config travels in the code of the functions that read it (not in their environment).
      if (/^(Ingest|Forward|Gatekeeper)Function/.test(id)) {
        expect(code, id).toContain('alice.example@gmail.com');
        expect(code, id).not.toContain('__ARCHIVER_CONFIG__');
      }
      // Cold start: the module loads (and reads its compiled config) with the environment the template gives it.
      const variables = (
        resource.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined
      )?.Variables;
      const env: Record<string, string> = { PATH: process.env.PATH ?? '', AWS_REGION: 'us-east-1' };
      for (const [name, value] of Object.entries(variables ?? {}))
        env[name] = typeof value === 'string' ? value : `resolved-at-deploy-${name.toLowerCase()}`;
      const load = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(join(dir, 'index.js'))})`], {
        env: { ...env, AWS_LAMBDA_FUNCTION_NAME: id },
        encoding: 'utf8',
      });
      expect(
        load.status,
        `${id} fails to load: ${load.stderr
          .split('\n')
          .filter((l) => l.length < 300)
          .join('\n')}`,
      ).toBe(0);
    }
    expect(manifest).toContain('AWS::Lambda::Function');
  });
});
