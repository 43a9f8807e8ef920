// X-Ray tracing is the config's choice (`tracing`, off by default): every function of the archiver is
// PassThrough (Lambda records a trace only for a request an upstream service sampled: ours sample none), or
// Active when `tracing` is true. Functions aws-cdk-lib adds for itself are left as they are.

import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import { ArchiverFunction } from '../../cdk/constructs/archiver-function';
import { exampleConfig } from '../support/config';
import { synthesize, templateJson } from './synth';

function tracingModes(tracing: boolean | undefined) {
  const { stack } = synthesize(exampleConfig(tracing === undefined ? {} : { tracing }));
  const resources = templateJson(stack).Resources;
  const ours = stack.node
    .findAll()
    .filter((c): c is ArchiverFunction => c instanceof ArchiverFunction)
    .map((fn) => stack.getLogicalId(fn.node.defaultChild as CfnFunction));
  const modeOf = (id: string) =>
    (resources[id]?.Properties?.TracingConfig as { Mode?: string } | undefined)?.Mode;
  const others = Object.entries(resources)
    .filter(([id, r]) => r.Type === 'AWS::Lambda::Function' && !ours.includes(id))
    .map(([id]) => id);
  return { ours: ours.map(modeOf), others: others.map(modeOf), count: ours.length };
}

describe('X-Ray tracing', () => {
  it('is PassThrough on every archiver function when the config does not turn it on', () => {
    const { ours, count } = tracingModes(undefined);
    expect(count).toBeGreaterThanOrEqual(8);
    expect(new Set(ours)).toEqual(new Set(['PassThrough']));
  });

  it('is Active on every archiver function with "tracing": true', () => {
    const { ours } = tracingModes(true);
    expect(new Set(ours)).toEqual(new Set(['Active']));
  });

  it('leaves the functions aws-cdk-lib adds for itself alone', () => {
    expect(tracingModes(true).others).toEqual(tracingModes(false).others);
  });
});

describe('turning tracing on or off', () => {
  it('changes no function code: the bundled config leaves the field out (the functions never read it)', () => {
    const codeOf = (tracing: boolean) => {
      const { stack } = synthesize(exampleConfig({ tracing }));
      const resources = templateJson(stack).Resources;
      return Object.entries(resources)
        .filter(([, r]) => r.Type === 'AWS::Lambda::Function')
        .map(([id, r]) => [id, JSON.stringify(r.Properties?.Code)]);
    };
    expect(codeOf(true)).toEqual(codeOf(false));
  });
});
