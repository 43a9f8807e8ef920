// The stack's outputs are read by name by the CLI (shared/aws-names.ts STACK_OUTPUT), and `status` and `doctor`
// watch the dead-letter queues cli/target/dead-letter-queues.ts lists. A queue the template makes a failure
// destination but the list lacks would fill unseen; an output the CLI reads but the stack lacks would fail only
// against a deployed stack.
import { describe, expect, it } from 'vitest';
import { DEAD_LETTER_QUEUES } from '../../cli/target/dead-letter-queues';
import { STACK_OUTPUT } from '../../shared/aws-names';
import { exampleConfig } from '../support/config';
import { synthesize, templateJson } from './synth';
import { ACCOUNT } from './template-model';

/** Outputs only a stack with `archive.replica` has (the CLI says so when they are absent). */
const REPLICA_ONLY: readonly string[] = [STACK_OUTPUT.batchReplicationRoleArn];

/** The logical ID of the SQS queue `value` points at (`{ "Fn::GetAtt": [id, "Arn"] }` or `{ Ref: id }`). */
function queueId(value: unknown, resources: Record<string, { Type: string }>): string | undefined {
  const v = value as { 'Fn::GetAtt'?: [string, string]; Ref?: string } | undefined;
  const id = v?.['Fn::GetAtt']?.[0] ?? v?.Ref;
  return id && resources[id]?.Type === 'AWS::SQS::Queue' ? id : undefined;
}

describe('stack outputs', () => {
  const template = templateJson(synthesize().stack);
  const outputs = (template.Outputs ?? {}) as Record<string, { Value?: unknown }>;

  it('has every output the CLI reads (those of a replica when it has one)', () => {
    for (const name of Object.values(STACK_OUTPUT))
      if (REPLICA_ONLY.includes(name)) expect(outputs[name], name).toBeUndefined();
      else expect(outputs[name], name).toBeDefined();
    const replicated = templateJson(
      synthesize(
        exampleConfig({
          archive: { replica: { account: '222222222222', region: 'eu-west-1', sourceAccount: ACCOUNT } },
        }),
      ).stack,
    );
    for (const name of Object.values(STACK_OUTPUT)) expect(replicated.Outputs?.[name], name).toBeDefined();
  });

  it('lists every queue the template makes a failure destination as a dead-letter queue', () => {
    const failureDestinations = new Set<string>();
    for (const r of Object.values(template.Resources)) {
      const p = r.Properties ?? {};
      const redrive = (p.RedrivePolicy as { deadLetterTargetArn?: unknown } | undefined)?.deadLetterTargetArn;
      const onFailure = (p.DestinationConfig as { OnFailure?: { Destination?: unknown } } | undefined)
        ?.OnFailure?.Destination;
      const deadLetter = (p.DeadLetterConfig as { TargetArn?: unknown } | undefined)?.TargetArn;
      for (const target of [redrive, onFailure, deadLetter]) {
        const id = queueId(target, template.Resources);
        if (id) failureDestinations.add(id);
      }
    }
    const listed = DEAD_LETTER_QUEUES.map((q) => queueId(outputs[q.output]?.Value, template.Resources));
    expect(failureDestinations.size).toBe(4);
    expect(new Set(listed)).toEqual(failureDestinations);
  });
});
