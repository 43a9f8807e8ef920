// The memory of the ingest, forward and gatekeeper functions is one value each: the one the stack deploys is the
// one the benchmark's cost model prices (cdk/constructs/lambda-memory.ts).
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import {
  FORWARD_MEMORY_MB,
  GATEKEEPER_MEMORY_MB,
  INGEST_MEMORY_MB,
} from '../../cdk/constructs/lambda-memory';
import { synthesize, templateJson } from './synth';

describe('the message-path functions’ memory', () => {
  const { stack } = synthesize();
  const resources = templateJson(stack).Resources;
  const memoryOf = (fn: { node: { defaultChild?: unknown } }) =>
    resources[stack.getLogicalId(fn.node.defaultChild as CfnFunction)]?.Properties?.MemorySize;

  it('gives the ingest function INGEST_MEMORY_MB', () => {
    expect(memoryOf(stack.ingest.function)).toBe(INGEST_MEMORY_MB);
  });

  it('gives the forward function FORWARD_MEMORY_MB', () => {
    expect(memoryOf(stack.forwarding.function)).toBe(FORWARD_MEMORY_MB);
  });

  it('gives the gatekeeper GATEKEEPER_MEMORY_MB, 256 MB as before it was named', () => {
    const gatekeeper = stack.receiving.gatekeeper;
    if (!gatekeeper) throw new Error('the example config bounces unknown recipients: it has a gatekeeper');
    expect(memoryOf(gatekeeper)).toBe(GATEKEEPER_MEMORY_MB);
    expect(GATEKEEPER_MEMORY_MB).toBe(256);
  });
});
