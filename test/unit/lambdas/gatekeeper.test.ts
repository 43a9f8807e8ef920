// The gatekeeper never fails a message (issue 10, fault 3): a bounce SES refuses is logged and counted, and the
// message is handled as if it had bounced. SES is mocked (aws-sdk-client-mock) behind the real SesBouncer; the
// metric goes through Powertools Metrics, whose embedded-metric-format output is captured.

import { Metrics } from '@aws-lambda-powertools/metrics';
import { SESClient, SendBounceCommand } from '@aws-sdk/client-ses';
import type { SESEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { createGatekeeperHandler } from '../../../lambdas/gatekeeper/handler';
import { SesBouncer } from '../../../shared/adapters/ses-bouncer';
import { BOUNCE_FAILED_METRIC, METRICS_NAMESPACE } from '../../../shared/metrics';
import { exampleConfig } from '../../support/config';

const ses = mockClient(SESClient);
let logged: { level: string; message: string; extra: Record<string, unknown> }[];
let emitted: string[];

function gatekeeper() {
  const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'mail-archiver-gatekeeper' });
  // Powertools prints the embedded-metric-format document on the console; keep it instead.
  (metrics as unknown as { console: { log: (s: string) => void } }).console = { log: (s) => emitted.push(s) };
  const logger = {
    info: (message: string, extra: Record<string, unknown>) => logged.push({ level: 'info', message, extra }),
    error: (message: string, extra: Record<string, unknown>) =>
      logged.push({ level: 'error', message, extra }),
  };
  return createGatekeeperHandler({
    config: exampleConfig(),
    bouncer: new SesBouncer(new SESClient({ region: 'us-east-1' })),
    logger: logger as never,
    metrics,
  });
}

function sesEvent(recipients: string[]): SESEvent {
  return {
    Records: [
      {
        eventSource: 'aws:ses',
        eventVersion: '1.0',
        ses: {
          mail: { messageId: 'ses-message-1' },
          receipt: { recipients },
        },
      },
    ],
  } as unknown as SESEvent;
}

beforeEach(() => {
  ses.reset();
  logged = [];
  emitted = [];
});

describe('the gatekeeper', () => {
  it("bounces unknown recipients from an identity its role may use, the journal subdomain's from the main domain", async () => {
    ses.on(SendBounceCommand).resolves({ MessageId: 'bounce-1' });
    const result = await gatekeeper()(sesEvent(['nobody@journal.example.com']));
    expect(result).toEqual({ disposition: 'STOP_RULE_SET' });
    expect(ses.commandCalls(SendBounceCommand)[0]?.args[0].input.BounceSender).toBe(
      'mailer-daemon@example.com',
    );
    expect(emitted).toEqual([]);
  });

  for (const [why, error] of [
    [
      'the account is in the sandbox',
      Object.assign(new Error('Email address is not verified.'), { name: 'MessageRejected' }),
    ],
    [
      'SES throttles a dictionary attack',
      Object.assign(new Error('Maximum sending rate exceeded.'), { name: 'Throttling' }),
    ],
  ] as const) {
    it(`goes on when SES refuses the bounce (${why}): logged, counted, the same disposition`, async () => {
      ses.on(SendBounceCommand).rejects(error);
      const handler = gatekeeper();
      await expect(handler(sesEvent(['nobody@example.com']))).resolves.toEqual({
        disposition: 'STOP_RULE_SET',
      });
      await expect(handler(sesEvent(['nobody@example.com', 'alice@example.com']))).resolves.toEqual({
        disposition: 'CONTINUE',
      });
      expect(logged.filter((l) => l.level === 'error').map((l) => l.message)).toEqual([
        'could not bounce unknown recipients',
        'could not bounce unknown recipients',
      ]);
      expect(logged[0]?.extra.error).toBe(error);
      const documents = emitted.map((line) => JSON.parse(line));
      expect(documents).toHaveLength(2);
      for (const doc of documents) {
        expect(doc[BOUNCE_FAILED_METRIC]).toBe(1);
        expect(doc.service).toBe('mail-archiver-gatekeeper');
        expect(doc._aws.CloudWatchMetrics[0].Namespace).toBe(METRICS_NAMESPACE);
      }
    });
  }
});
