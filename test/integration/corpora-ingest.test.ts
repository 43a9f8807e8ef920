// Every real third-party message goes through the ingest Lambda handler (SQS event -> S3 -> DynamoDB
// Local): every one indexed, none lost, none crashes the handler.
import { readFileSync } from 'node:fs';
import type { Context, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIngestHandler } from '../../lambdas/ingest/handler';
import { exampleConfig } from '../support/config';
import { corporaPresent, corporaSkipReason, corpusMessages, corpusName } from '../support/corpora';
import { startTestServices, type TestServices } from '../support/services';
import { receiveLikeSes } from '../support/ses';

if (!corporaPresent) console.warn(corporaSkipReason);

describe.skipIf(!corporaPresent)('ingest over ../shared/corpora', () => {
  let services: TestServices;
  beforeAll(async () => {
    services = await startTestServices();
  });
  afterAll(async () => services?.stop());

  it('indexes every message exactly once through the Lambda handler, recording parse failures', async () => {
    const files = corpusMessages();
    expect(files.length).toBeGreaterThan(100);
    const warnings: unknown[] = [];
    const handler = createIngestHandler({
      config: exampleConfig(),
      store: services.store,
      index: services.index,
      logger: { info: () => undefined, warn: (...args: unknown[]) => warnings.push(args) },
    });
    const expected = new Map<string, string>();
    const records: SQSEvent['Records'] = [];
    for (const file of files) {
      const { notification, sha256 } = await receiveLikeSes(
        services.store,
        services.bucket,
        readFileSync(file),
        {
          recipients: ['alice@example.com'],
        },
      );
      expected.set(notification.mail.messageId, sha256);
      records.push({
        messageId: notification.mail.messageId,
        body: JSON.stringify(notification),
      } as SQSEvent['Records'][number]);
    }
    const failures: string[] = [];
    for (let i = 0; i < records.length; i += 10) {
      const batch = records.slice(i, i + 10);
      const response = await handler({ Records: batch }, {} as Context);
      failures.push(...response.batchItemFailures.map((f) => f.itemIdentifier));
    }
    expect(failures).toEqual([]);
    // Deliver the whole corpus a second time: nothing new appears.
    for (let i = 0; i < records.length; i += 10)
      await handler({ Records: records.slice(i, i + 10) }, {} as Context);

    const rows = [];
    for await (const row of services.index.listDeliveries('alice@example.com')) rows.push(row);
    expect(rows).toHaveLength(files.length);
    for (const row of rows) expect(row.sha256).toBe(expected.get(row.sesMessageId));
    const parseFailures = rows
      .filter((r) => r.parseError)
      .map((r) => `${r.subject ?? '(no subject)'}: ${r.parseError}`);
    console.info(
      `corpora: ${files.length} messages indexed, ${parseFailures.length} with a recorded parse failure`,
    );
    expect(new Set(rows.map((r) => r.uid)).size).toBe(files.length);
    expect(files.map(corpusName).length).toBe(files.length);
  }, 180_000); // 315 messages delivered twice: 60 s alone at load 35, on main too
});
