// The feedback handler reads each SNS record on its own: SES's plain-text confirmation, non-SES JSON and
// malformed events are skipped, a ledger failure fails the invocation only after the other records are recorded.
import type { SNSEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { createFeedbackHandler, FeedbackRecordingError } from '../../../lambdas/feedback/handler';
import type { ForwardLedger } from '../../../shared/ports';

const event = (...messages: string[]): SNSEvent =>
  ({
    Records: messages.map((Message, i) => ({ Sns: { Message, MessageId: `m${i}` } })),
  }) as unknown as SNSEvent;

const bounce = (id: string) =>
  JSON.stringify({
    eventType: 'Bounce',
    mail: { messageId: id },
    bounce: {
      bounceType: 'Permanent',
      bounceSubType: 'General',
      bouncedRecipients: [{ emailAddress: 'x@gmail.com', diagnosticCode: 'smtp; 550 no such user' }],
    },
  });

function ledger(fail: string[] = []) {
  const recorded: { id: string; state: string; feedback: string }[] = [];
  const fake = {
    async recordFeedback(id: string, state: string, feedback: string) {
      if (fail.includes(id)) throw new Error(`throttled on ${id}`);
      recorded.push({ id, state, feedback });
      return true;
    },
  } as unknown as ForwardLedger;
  return { fake, recorded };
}

const logger = { info: () => undefined, warn: () => undefined };

describe('feedback handler', () => {
  it("skips SES's plain-text topic confirmation and other non-events, and records the bounces among them", async () => {
    const { fake, recorded } = ledger();
    const handler = createFeedbackHandler({ ledger: fake, logger });
    await handler(
      event(
        'Successfully validated SNS topic for Amazon SES event publishing.',
        '',
        'null',
        '[1,2]',
        '{"eventType":"Bounce"}',
        '{"eventType":"Bounce","mail":{"messageId":42},"bounce":{"bouncedRecipients":"x"}}',
        bounce('ses-1'),
        JSON.stringify({ eventType: 'Complaint', mail: { messageId: 'ses-2' }, complaint: {} }),
      ),
    );
    expect(recorded).toEqual([
      { id: 'ses-1', state: 'bounced', feedback: 'Permanent/General: x@gmail.com smtp; 550 no such user' },
      { id: 'ses-2', state: 'complained', feedback: 'complaint: unspecified' },
    ]);
  });

  it('records every other record before failing the invocation for one the ledger refused', async () => {
    const { fake, recorded } = ledger(['ses-1']);
    const handler = createFeedbackHandler({ ledger: fake, logger });
    const failure = await handler(event(bounce('ses-1'), bounce('ses-3'))).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(FeedbackRecordingError);
    expect((failure as AggregateError).errors.map((e: Error) => e.message)).toEqual(['throttled on ses-1']);
    expect(recorded.map((r) => r.id)).toEqual(['ses-3']);
  });
});
