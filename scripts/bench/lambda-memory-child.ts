// One message-path Lambda's work in a process of its own, for the cost section's memory rows
// (scripts/bench/lambda-memory.ts): the ingest core (archiveReceivedMail) or the forward core (forwardMessage: the
// rewrite, then SES v2's SendEmail through the real SDK client to a stand-in endpoint the parent runs) on the stored
// messages named, all at once, as the handlers' batch processor runs a batch's records. The parent bundles this file
// and runs it with plain node and the heap flags Lambda's runtime gives the function's memory, so the process is
// shaped like the function's. Prints one JSON line: the peak RSS of the whole process (VmHWM), its RSS before the
// work, and the work's wall and CPU seconds.
// Run as: node <bundle> ingest|forward <dir> <config file> <ses endpoint> <key>...
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { FileRawMailStore } from '../../shared/adapters/file-store';
import { MemoryMailIndex } from '../../shared/adapters/memory-index';
import { SesSender } from '../../shared/adapters/ses-sender';
import { archiveReceivedMail } from '../../shared/archive/ingest';
import { loadConfig } from '../../shared/config';
import { forwardMessage } from '../../shared/forwarding/forward';
import type { DeliveryRow } from '../../shared/index/schema';
import { rawMailKey } from '../../shared/index/schema';
import { buildReceivedNotification } from '../../shared/receiving/ses-notification';
import { measure } from './measure';
import { peakRssKb } from './peak-rss';

const MAILBOX = 'alice@example.com';
const rowsFile = (dir: string, key: string) => join(dir, `${key}.rows.json`);

async function ingest(dir: string, configFile: string, keys: string[]) {
  const config = loadConfig(configFile);
  const store = new FileRawMailStore(dir);
  const index = new MemoryMailIndex();
  const baselineKb = currentRssKb();
  const timed = await measure(() =>
    Promise.all(
      keys.map((key) =>
        archiveReceivedMail(
          buildReceivedNotification({
            messageId: key,
            timestamp: new Date(),
            source: 'sender@example.org',
            recipients: [MAILBOX],
            bucket: 'raw',
            objectKey: rawMailKey(key),
            verdicts: { spam: 'PASS', virus: 'PASS', spf: 'PASS', dkim: 'PASS', dmarc: 'PASS' },
          }),
          { config, store, index },
        ),
      ),
    ),
  );
  // The rows the forward run starts from, one file per message.
  for (const key of keys) {
    const rows = [...index.rows.values()].filter((row) => row.location.key === rawMailKey(key));
    if (rows.length === 0) throw new Error(`ingest wrote no row for ${key}`);
    writeFileSync(rowsFile(dir, key), JSON.stringify(rows));
  }
  return { baselineKb, ...timed };
}

async function forward(dir: string, configFile: string, endpoint: string, keys: string[]) {
  const config = loadConfig(configFile);
  const store = new FileRawMailStore(dir);
  const index = new MemoryMailIndex();
  const requests = keys.map((key) => {
    const rows = JSON.parse(readFileSync(rowsFile(dir, key), 'utf8')) as DeliveryRow[];
    for (const row of rows) index.rows.set(`${row.mailbox}\n${row.messageKey}`, row);
    const row = rows.find((r) => r.mailbox === MAILBOX) as DeliveryRow;
    return { mailbox: MAILBOX, messageKey: row.messageKey };
  });
  const ses = new SESv2Client({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  const deps = { config, store, index, sender: new SesSender(ses) };
  const baselineKb = currentRssKb();
  const timed = await measure(() => Promise.all(requests.map((request) => forwardMessage(request, deps))));
  // A copy that was skipped (too large once rewritten) or failed was not measured: say so rather than print it.
  const unsent = timed.result.flat().filter((outcome) => outcome.status !== 'sent');
  if (unsent.length > 0) throw new Error(`not sent: ${JSON.stringify(unsent)}`);
  return { baselineKb, ...timed };
}

/** This process's resident set now, in KiB (VmRSS). */
function currentRssKb(): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return match ? Number(match[1]) : Math.round(process.memoryUsage().rss / 1024);
}

// No top-level await: the parent bundles this file as CommonJS, as the Lambdas are bundled.
async function main() {
  const [what, dir, configFile, endpoint, ...keys] = process.argv.slice(2);
  if (!dir || !configFile || !endpoint || keys.length === 0 || (what !== 'ingest' && what !== 'forward'))
    throw new Error('usage: ingest|forward <dir> <config file> <ses endpoint> <key>...');
  const run =
    what === 'ingest' ? await ingest(dir, configFile, keys) : await forward(dir, configFile, endpoint, keys);
  console.log(
    JSON.stringify({
      peakKb: peakRssKb(),
      baselineKb: run.baselineKb,
      seconds: run.seconds,
      cpuSeconds: run.cpuSeconds,
    }),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
