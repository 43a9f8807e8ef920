// Synthesizes the archiver stack for template tests. Bundling is skipped (the context key
// `aws:cdk:bundling-stacks` lists the stacks whose assets are bundled; empty means none), so a template test
// takes milliseconds instead of an esbuild run per function; test/infra/bundle.test.ts builds the real bundles.
import { App, type Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ArchiverStack } from '../../cdk/archiver-stack';
import type { ArchiverConfig } from '../../shared/config';
import { exampleConfig } from '../support/config';

export const testEnv = { account: '111111111111', region: 'us-east-1' };

export interface Synthesized {
  app: App;
  stack: ArchiverStack;
  /** The synthesized template (synthesized when first read). */
  readonly template: Template;
}

/** The stack for `config`, with cdk-nag's AwsSolutions checks attached (they run when `app.synth()` runs). */
export function synthesize(
  config: ArchiverConfig = exampleConfig(),
  options: { bundle?: boolean; stackName?: string; outdir?: string } = {},
): Synthesized {
  const app = new App({
    outdir: options.outdir,
    context: options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] },
  });
  const stack = new ArchiverStack(app, options.stackName ?? 'TestArchiver', { config, env: testEnv });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  let template: Template | undefined;
  return {
    app,
    stack,
    get template() {
      template ??= Template.fromStack(stack);
      return template;
    },
  };
}

/** The template of `stack` as JSON (Resources, Outputs, ...). */
export function templateJson(stack: Stack): {
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown>; DeletionPolicy?: string }>;
  Outputs?: Record<string, unknown>;
} {
  return Template.fromStack(stack).toJSON() as ReturnType<typeof templateJson>;
}
