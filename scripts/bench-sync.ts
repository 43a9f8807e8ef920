// The sync section of `npm run bench` (issue 23): a replica kept by `sync` from the local stack (DynamoDB Local and
// s3rver), every run in a fresh process (scripts/bench/sync-child.ts), the S3 requests counted by SDK middleware.
// - First sync of the SpamAssassin corpus (6,000 deliveries) beside Debian's rclone (`rclone sync`) copying the same
//   raw objects from the same s3rver with the same concurrency (--transfers and --checkers), messages per second.
// - Requests of a sync with nothing new at 1,000 and at 6,000 messages (target: the same), and of a sync of 100 new
//   messages in the 6,000 (target: proportional to the 100).
// - Peak RSS of a first sync at 1,000 and at 6,000 messages (target: flat).
// The archive is built as it grows in use: one delivery log object per message (one SES delivery, one ingest
// invocation), one minute apart on the log's clock, so that the log's look-back window (15 minutes) holds what it
// holds in a real archive, not all 6,000 objects written in the last minutes.
// BENCH_SYNC_SMALL and BENCH_SYNC_LARGE (default 1000 and 6000) set the two sizes.
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { deliverThrough, LOCAL_BUCKET, LOCAL_TABLE, receiveRawMessage } from '../cli/local/archive';
import { ensureBucket, startS3Local } from '../cli/local/services';
import { archiveStorage } from '../cli/target/archive';
import { createIngestHandler } from '../lambdas/ingest/handler';
import { createClients, destroyClients } from '../shared/adapters/clients';
import { MemoryMailIndex } from '../shared/adapters/memory-index';
import type { ArchiverConfig } from '../shared/config';
import { DeliveryLog } from '../shared/delivery-log/log';
import { RAW_MAIL_PREFIX } from '../shared/index/schema';
import { nthCorpusCopy } from '../test/support/spam-assassin';
import type { BenchRow } from './bench/row';

const ROOT = resolve(import.meta.dirname, '..');
const execFileAsync = promisify(execFile);
const CONCURRENCY = 8; // sync's default (--concurrency)
const SMALL = Number(process.env.BENCH_SYNC_SMALL ?? 1_000);
const LARGE = Number(process.env.BENCH_SYNC_LARGE ?? 6_000);
const NEW = 100;
const BENCH_CREDENTIALS = { accessKeyId: 'BENCHSYNC', secretAccessKey: 'bench-sync-secret' };

interface ChildRun {
  seconds: number;
  ok: boolean;
  added: number;
  logObjects: number;
  bytes: number;
  peakMb: number;
  requests: Record<string, number>;
}

type Row = BenchRow;

const total = (run: ChildRun) => Object.values(run.requests).reduce((a, b) => a + b, 0);
const describe = (run: ChildRun) =>
  Object.entries(run.requests)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');

export async function syncBench(
  work: string,
  messages: Buffer[],
  config: ArchiverConfig,
): Promise<{ rows: Row[]; notes: string[] }> {
  mkdirSync(work, { recursive: true });
  // The archive's bucket on s3rver, filled through the real ingest handler; its index in memory (sync never reads
  // the index, and DynamoDB Local would only slow the building down).
  const s3 = await startS3Local({ dataDir: join(work, 's3'), credentials: BENCH_CREDENTIALS });
  const endpoints = { s3: s3.endpoint, dynamodb: 'http://127.0.0.1:9', credentials: BENCH_CREDENTIALS };
  const clients = createClients(endpoints);
  await ensureBucket(clients.s3, LOCAL_BUCKET);
  const storage = archiveStorage(clients, LOCAL_BUCKET, LOCAL_TABLE);
  const handler = createIngestHandler({
    config,
    store: storage.store,
    index: new MemoryMailIndex(),
    deliveryLog: storage.deliveryLog,
    logger: { info: () => undefined, warn: () => undefined },
  });
  const deliver = deliverThrough(handler);
  const rows: Row[] = [];
  const notes: string[] = [];
  // Asynchronously: s3rver runs in this process, and a synchronous wait would stop it answering the child.
  const sync = async (dir: string): Promise<ChildRun> => {
    const { stdout: out } = await execFileAsync(
      process.execPath,
      [
        '--import',
        'tsx',
        join(ROOT, 'scripts/bench/sync-child.ts'),
        JSON.stringify(endpoints),
        dir,
        String(CONCURRENCY),
      ],
      // The thread pool cli/bin.js gives the CLI (the child runs the sync's code without the bin).
      { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 20, env: { ...process.env, UV_THREADPOOL_SIZE: '16' } },
    );
    const run = JSON.parse(out.trim().split('\n').pop() as string) as ChildRun;
    if (!run.ok) throw new Error(`the bench's sync of ${dir} reported problems`);
    return run;
  };
  let delivered = 0;
  const start = Date.parse('2026-01-01T00:00:00Z');
  /** Delivers messages up to `count` through the ingest handler, 4 at a time, one log object each. */
  const deliverUpTo = async (count: number) => {
    const next = () => (delivered < count ? delivered++ : undefined);
    const worker = async () => {
      for (let i = next(); i !== undefined; i = next()) {
        const at = new Date(start + i * 60_000);
        const log = new DeliveryLog(storage.store, LOCAL_BUCKET, { now: () => at });
        const batch = log.batch('ingest');
        const notification = await receiveRawMessage(storage, {
          raw: nthCorpusCopy(messages, i),
          envelopeFrom: 'sender@example.org',
          recipients: i % 5 === 0 ? ['alice@example.com', 'bob@example.com'] : ['alice@example.com'],
          receivedAt: at,
        });
        await deliver(notification, { logBatch: batch });
        await batch.flush();
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
  };
  try {
    await deliverUpTo(SMALL);
    const firstSmall = await sync(join(work, 'replica-1000'));
    const idleSmall = await sync(join(work, 'replica-1000'));
    await deliverUpTo(LARGE);
    const firstLarge = await sync(join(work, 'replica-6000'));
    const idleLarge = await sync(join(work, 'replica-6000'));
    // rclone copies the same raw objects the first sync read (before the 100 new are delivered).
    const rclone = await rcloneSync(endpoints, join(work, 'rclone-6000'));
    await deliverUpTo(LARGE + NEW);
    const hundred = await sync(join(work, 'replica-6000'));

    // Per delivery (raw object) for both: the replica writes a fifth of them twice (the second mailbox).
    const ours = LARGE / firstLarge.seconds;
    if (rclone) {
      const theirs = rclone.objects / rclone.seconds;
      rows.push({
        metric: `first sync, ${LARGE.toLocaleString('en')} deliveries of the SpamAssassin corpus (${firstLarge.added} files), concurrency ${CONCURRENCY}`,
        value: ours,
        unit: 'msg/s',
        baseline: { name: `rclone sync of the same ${rclone.objects} raw objects`, value: theirs },
        target: 'at least as fast as rclone',
        met: ours >= theirs,
      });
      rows.push({ metric: 'first sync / rclone sync', value: ours / theirs, unit: 'x' });
    } else {
      rows.push({
        metric: `first sync, ${LARGE.toLocaleString('en')} deliveries`,
        value: ours,
        unit: 'msg/s',
      });
      notes.push(
        'rclone is not installed (scripts/install-system-deps.sh rclone): the first sync has no baseline.',
      );
    }
    rows.push({
      metric: `requests of a sync with nothing new, ${SMALL.toLocaleString('en')} messages`,
      value: total(idleSmall),
      unit: 'requests',
    });
    rows.push({
      metric: `requests of a sync with nothing new, ${LARGE.toLocaleString('en')} messages`,
      value: total(idleLarge),
      unit: 'requests',
      baseline: { name: `${SMALL.toLocaleString('en')} messages`, value: total(idleSmall) },
      target: `the same as at ${SMALL.toLocaleString('en')}`,
      met: total(idleLarge) === total(idleSmall),
    });
    // Proportional: what the 100 add over a run with nothing new is a fixed number per message written (its log
    // object and its raw object: at most 2 GETs), whatever the archive's size.
    const perNew = (total(hundred) - total(idleLarge)) / hundred.added;
    rows.push({
      metric: `requests of a sync of ${NEW} new messages in ${LARGE.toLocaleString('en')}`,
      value: total(hundred),
      unit: 'requests',
      target: `proportional: at most 2 per message written (${hundred.added}) over nothing new`,
      met: perNew <= 2,
    });
    rows.push({
      metric: `first sync peak RSS, ${SMALL.toLocaleString('en')} messages`,
      value: firstSmall.peakMb,
      unit: 'MB',
    });
    rows.push({
      metric: `first sync peak RSS, ${LARGE.toLocaleString('en')} messages`,
      value: firstLarge.peakMb,
      unit: 'MB',
      baseline: { name: `${SMALL.toLocaleString('en')} messages`, value: firstSmall.peakMb },
      target: `flat: within 1.25x of ${SMALL.toLocaleString('en')}`,
      met: firstLarge.peakMb <= 1.25 * firstSmall.peakMb,
    });
    notes.push(
      `Sync: s3rver holding an archive built through the ingest handler (its index in memory: sync never reads it), ${LARGE.toLocaleString('en')} deliveries of the SpamAssassin corpus (a fifth also to a second mailbox), one delivery log object per message one minute apart on the log's clock (an archive that grew over days; the look-back window then holds 15 objects, as in use). Requests by kind: nothing new at ${SMALL.toLocaleString('en')}: ${describe(idleSmall)}; at ${LARGE.toLocaleString('en')}: ${describe(idleLarge)}; ${NEW} new: ${describe(hundred)}; first sync of ${LARGE.toLocaleString('en')}: ${describe(firstLarge)} in ${firstLarge.seconds.toFixed(1)} s${rclone ? `; rclone sync of the raw objects: ${rclone.seconds.toFixed(1)} s (${rclone.objects} objects, --transfers ${CONCURRENCY} --checkers ${CONCURRENCY})` : ''}. A sync reads each new delivery's log object and raw object, and writes the maildir files, uidlists and manifest; rclone writes the raw objects as files only.`,
    );
  } finally {
    destroyClients(clients);
    await s3.stop();
  }
  return { rows, notes };
}

/** `rclone sync` of the archive's raw objects into `dir` (Debian's rclone, installed by the project's script). */
async function rcloneSync(
  endpoints: { s3: string; credentials?: { accessKeyId: string; secretAccessKey: string } },
  dir: string,
): Promise<{ seconds: number; objects: number } | undefined> {
  spawnSync('bash', [join(ROOT, 'scripts/install-system-deps.sh'), 'rclone'], { stdio: 'inherit' });
  if (spawnSync('rclone', ['version'], { stdio: 'ignore' }).status !== 0) return undefined;
  // The AWS SDK inside rclone cannot use a custom CA bundle with its plain HTTP transport (s3rver is http://).
  const { AWS_CA_BUNDLE: _caBundle, ...inherited } = process.env;
  const env = {
    ...inherited,
    RCLONE_CONFIG_ARCHIVE_TYPE: 's3',
    RCLONE_CONFIG_ARCHIVE_PROVIDER: 'Other',
    RCLONE_CONFIG_ARCHIVE_ENDPOINT: endpoints.s3,
    RCLONE_CONFIG_ARCHIVE_REGION: 'us-east-1',
    RCLONE_CONFIG_ARCHIVE_FORCE_PATH_STYLE: 'true',
    RCLONE_CONFIG_ARCHIVE_ACCESS_KEY_ID: endpoints.credentials?.accessKeyId ?? 'S3RVER',
    RCLONE_CONFIG_ARCHIVE_SECRET_ACCESS_KEY: endpoints.credentials?.secretAccessKey ?? 'S3RVER',
  };
  mkdirSync(dir, { recursive: true });
  const started = process.hrtime.bigint();
  // Asynchronously, as the sync runs: s3rver answers from this process.
  await execFileAsync(
    'rclone',
    [
      'sync',
      `archive:${LOCAL_BUCKET}/${RAW_MAIL_PREFIX}`,
      dir,
      '--transfers',
      String(CONCURRENCY),
      '--checkers',
      String(CONCURRENCY),
    ],
    { env, encoding: 'utf8', maxBuffer: 16 << 20 },
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return {
    seconds,
    objects: readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length,
  };
}
