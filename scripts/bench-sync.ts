// The sync section of `npm run bench` (issue 23): a replica kept by `sync` from the local stack (DynamoDB Local and
// s3rver), every run in a fresh process (scripts/bench/sync-child.ts), the S3 requests counted by SDK middleware.
// - First sync of the SpamAssassin corpus (6,000 deliveries) beside Debian's rclone (`rclone sync`) copying the same
//   raw objects from the same s3rver with the same concurrency (--transfers and --checkers), messages per second.
//   And both again through a proxy that makes every S3 request 30 ms slower (BENCH_SYNC_LATENCY_MS): over a link
//   to S3, where the network and not this machine's two cores sets the pace.
// - Requests of a sync with nothing new at 1,000 and at 6,000 messages (target: the same), and of a sync of 100 new
//   messages in the 6,000 (target: proportional to the 100).
// - Peak RSS of a first sync at 1,000 and at 6,000 messages (target: flat).
// The archive is built as it grows in use: one delivery log object per message (one SES delivery, one ingest
// invocation), one minute apart on the log's clock, so that the log's look-back window (15 minutes) holds what it
// holds in a real archive, not all 6,000 objects written in the last minutes.
// The transparency log is sealed after the 1,000 and after the 6,000 (the stack seals every night): a first sync
// takes what is sealed from its entry bundles (256 records a read) and the rest from the delivery log.
// BENCH_SYNC_SMALL and BENCH_SYNC_LARGE (default 1000 and 6000) set the two sizes. Through the proxy, the requests
// waiting for their answer are counted over time for each tool (its effective concurrency). BENCH_SYNC_COMPARE=DIR
// (another checkout of the project, with its node_modules) runs that checkout's first sync too, with and without
// the delay, on the same archive in the same run: a before/after pair at the same load.
// - Peak RSS of a first sync of one mailbox of 5,000 and of 50,000 messages, and of a sync with nothing new after
//   it (target: within 1.5x, issue 29's scale rule), from an archive on local disk (the raw store and logs as files:
//   built in minutes, where 50,000 through s3rver would take an hour), sealed: what grows with the mailbox is the
//   sync's own bookkeeping, not the store. BENCH_SYNC_MAILBOX (default 5000,50000) sets the two sizes;
//   BENCH_SYNC_ARCHIVES=DIR keeps the two archives there for the next run.
import { execFile, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { deliverThrough, LOCAL_BUCKET, LOCAL_TABLE, receiveRawMessage } from '../cli/local/archive';
import { ensureBucket, startS3Local } from '../cli/local/services';
import { archiveStorage } from '../cli/target/archive';
import { createIngestHandler } from '../lambdas/ingest/handler';
import { createClients, destroyClients } from '../shared/adapters/clients';
import { DirectoryWriteOnceStore } from '../shared/adapters/dir-write-once-store';
import { FileRawMailStore } from '../shared/adapters/file-store';
import { MemoryMailIndex } from '../shared/adapters/memory-index';
import type { ArchiverConfig } from '../shared/config';
import { DeliveryLog } from '../shared/delivery-log/log';
import { RAW_MAIL_PREFIX } from '../shared/index/schema';
import { deliveryLogSource } from '../shared/transparency/leaf';
import { KeyFileSigner } from '../shared/transparency/note';
import { seal } from '../shared/transparency/seal';
import { nthCorpusCopy } from '../test/support/spam-assassin';
import { type InFlight, startLatencyProxy } from './bench/latency-proxy';
import type { BenchRow } from './bench/row';

const ROOT = resolve(import.meta.dirname, '..');
const execFileAsync = promisify(execFile);
const CONCURRENCY = 8; // sync's default (--concurrency)
const SMALL = Number(process.env.BENCH_SYNC_SMALL ?? 1_000);
const LARGE = Number(process.env.BENCH_SYNC_LARGE ?? 6_000);
const NEW = 100;
/** Added to every S3 request in the rows that compare sync and rclone over a link (BENCH_SYNC_LATENCY_MS; 0: none). */
const LATENCY_MS = Number(process.env.BENCH_SYNC_LATENCY_MS ?? 30);
const [MAILBOX_SMALL = 5_000, MAILBOX_LARGE = 50_000] = (process.env.BENCH_SYNC_MAILBOX ?? '5000,50000')
  .split(',')
  .map(Number);
const BENCH_CREDENTIALS = { accessKeyId: 'BENCHSYNC', secretAccessKey: 'bench-sync-secret' };
/** Another checkout whose first sync runs beside this one's (BENCH_SYNC_COMPARE). */
const COMPARE = process.env.BENCH_SYNC_COMPARE ? resolve(process.env.BENCH_SYNC_COMPARE) : undefined;

interface ChildRun {
  seconds: number;
  /** CPU time (user + system) of the sync's process. */
  cpuSeconds: number;
  /** CPU time of this process meanwhile: s3rver answering the sync (and the bench idling). */
  serverCpuSeconds: number;
  ok: boolean;
  added: number;
  logObjects: number;
  leaves: number;
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
  const sync = (dir: string, profile = false, logOnly = false) =>
    syncChild(JSON.stringify(endpoints), dir, profile, logOnly);
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
  // The transparency log, sealed as the stack seals it every night: a first sync takes what is sealed from its
  // entry bundles and the rest from the delivery log after the seal's cursor.
  const signer = new KeyFileSigner(
    'example.com/mail-archiver/bench/local',
    generateKeyPairSync('ed25519').privateKey,
  );
  const sealLog = () =>
    seal({ store: storage.transparency, signer, source: deliveryLogSource(storage.deliveryLog) });
  try {
    await deliverUpTo(SMALL);
    await sealLog();
    const firstSmall = await sync(join(work, 'replica-1000'));
    const idleSmall = await sync(join(work, 'replica-1000'));
    await deliverUpTo(LARGE);
    const sealed = await sealLog();
    const firstLarge = await sync(join(work, 'replica-6000'), true);
    // The same first sync reading the delivery log whole (no transparency log): what the entry bundles save.
    const logOnly = await sync(join(work, 'replica-6000-log-only'), false, true);
    const idleLarge = await sync(join(work, 'replica-6000'));
    // rclone copies the same raw objects the first sync read (before the 100 new are delivered).
    const rclone = await rcloneSync(endpoints, join(work, 'rclone-6000'));
    // The other checkout's first sync of the same archive, right after this one's.
    const compared = COMPARE
      ? await syncChild(JSON.stringify(endpoints), join(work, 'replica-6000-compare'), false, false, COMPARE)
      : undefined;
    // The same two first syncs where each S3 request waits LATENCY_MS for its answer, as over the Internet.
    const overLink =
      rclone && LATENCY_MS > 0 ? await throughLatency(s3.endpoint, endpoints, work) : undefined;
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
      if (compared)
        rows.push({
          metric: `first sync, ${LARGE.toLocaleString('en')} deliveries, the code of ${COMPARE}`,
          value: LARGE / compared.seconds,
          unit: 'msg/s',
          baseline: { name: 'this code, same run', value: ours },
        });
      if (overLink) {
        const { ours: slow, theirs: slowRclone, compare: slowCompare, inFlight } = overLink;
        rows.push({
          metric: `first sync, ${LARGE.toLocaleString('en')} deliveries, every S3 request ${LATENCY_MS} ms slower (a link to S3, not this machine's cores, sets the pace)`,
          value: LARGE / slow.seconds,
          unit: 'msg/s',
          baseline: {
            name: 'rclone sync through the same delay',
            value: slowRclone.objects / slowRclone.seconds,
          },
        });
        rows.push({
          metric: `first sync / rclone sync, ${LATENCY_MS} ms a request`,
          value: LARGE / slow.seconds / (slowRclone.objects / slowRclone.seconds),
          unit: 'x',
        });
        if (slowCompare)
          rows.push({
            metric: `first sync, ${LARGE.toLocaleString('en')} deliveries, ${LATENCY_MS} ms a request, the code of ${COMPARE}`,
            value: LARGE / slowCompare.seconds,
            unit: 'msg/s',
            baseline: { name: 'this code, same run', value: LARGE / slow.seconds },
          });
        // Over the tool's own time: a sync child's start (loading its code) is in the proxy's period, not in its run.
        const describeInFlight = (name: string, run: { seconds: number }, gauge: InFlight) => {
          const outside = Math.max(0, gauge.seconds - run.seconds);
          const at = gauge.secondsAt.map((s, k) => (k === 0 ? Math.max(0, s - outside) : s));
          const mean = at.reduce((sum, s, k) => sum + s * k, 0) / run.seconds;
          return `${name} ${run.seconds.toFixed(1)} s, ${gauge.requests} requests, ${mean.toFixed(2)} in flight on average (seconds at 0, 1, 2, ... in flight: ${at.map((x) => x.toFixed(1)).join(', ')})`;
        };
        notes.push(
          `Sync through a proxy adding ${LATENCY_MS} ms to every S3 request, the requests waiting for their answer counted by the proxy: ${[
            describeInFlight('sync', slow, inFlight.ours),
            describeInFlight('rclone', slowRclone, inFlight.theirs),
            ...(slowCompare && inFlight.compare
              ? [describeInFlight(`sync of ${COMPARE}`, slowCompare, inFlight.compare)]
              : []),
          ].join('; ')}.`,
        );
      }
      rows.push({
        metric: `first sync, ${LARGE.toLocaleString('en')} deliveries, the delivery log read whole (no transparency log)`,
        value: LARGE / logOnly.seconds,
        unit: 'msg/s',
        baseline: { name: 'rclone', value: theirs },
      });
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
      `Sync: s3rver holding an archive built through the ingest handler (its index in memory: sync never reads it), ${LARGE.toLocaleString('en')} deliveries of the SpamAssassin corpus (a fifth also to a second mailbox), one delivery log object per message one minute apart on the log's clock (an archive that grew over days; the look-back window then holds 15 objects, as in use). The transparency log sealed after the first ${SMALL.toLocaleString('en')} and again after all ${LARGE.toLocaleString('en')} (tree of ${sealed.size}), as the nightly seal does: the first sync of ${LARGE.toLocaleString('en')} took ${firstLarge.leaves} records from its entry bundles and read ${firstLarge.logObjects} delivery log objects. Requests by kind: nothing new at ${SMALL.toLocaleString('en')}: ${describe(idleSmall)}; at ${LARGE.toLocaleString('en')}: ${describe(idleLarge)}; ${NEW} new: ${describe(hundred)}; first sync of ${LARGE.toLocaleString('en')}: ${describe(firstLarge)} in ${firstLarge.seconds.toFixed(1)} s${rclone ? `; rclone sync of the raw objects: ${rclone.seconds.toFixed(1)} s (${rclone.objects} objects, --transfers ${CONCURRENCY} --checkers ${CONCURRENCY})` : ''}. A sync reads each new delivery's raw object (and its log object when it is not sealed yet), and writes the maildir files, uidlists and manifest; rclone writes the raw objects as files only.`,
    );
    const perDelivery = (cpuSeconds: number) => `${((cpuSeconds * 1000) / LARGE).toFixed(2)} ms`;
    notes.push(
      `Sync CPU per delivery, first sync of ${LARGE.toLocaleString('en')}: the sync's process ${perDelivery(firstLarge.cpuSeconds)} (${firstLarge.cpuSeconds.toFixed(1)} s), s3rver answering it ${perDelivery(firstLarge.serverCpuSeconds)}; reading the delivery log whole instead: ${logOnly.seconds.toFixed(1)} s, ${describe(logOnly)}, the process ${perDelivery(logOnly.cpuSeconds)}, s3rver ${perDelivery(logOnly.serverCpuSeconds)}, peak RSS ${logOnly.peakMb.toFixed(0)} MB${rclone ? `; rclone ${perDelivery(rclone.cpuSeconds)} (${rclone.cpuSeconds.toFixed(1)} s), s3rver answering it ${perDelivery(rclone.serverCpuSeconds)}` : ''}; load average at the end ${loadavg()[0]?.toFixed(1)}.`,
    );
  } finally {
    destroyClients(clients);
    await s3.stop();
  }
  return { rows, notes };
}

/**
 * The first sync of the large archive and rclone's copy of it, each through a proxy that delays every S3 request
 * LATENCY_MS (scripts/bench/latency-proxy.ts): what the two compare as when the network sets the pace.
 */
async function throughLatency(
  upstream: string,
  endpoints: { s3: string; dynamodb: string; credentials: { accessKeyId: string; secretAccessKey: string } },
  work: string,
) {
  const proxy = await startLatencyProxy(upstream, LATENCY_MS);
  try {
    const delayed = JSON.stringify({ ...endpoints, s3: proxy.endpoint });
    const measured = async <T>(run: () => Promise<T>) => {
      proxy.inFlight.reset();
      const result = await run();
      return { result, inFlight: proxy.inFlight.read() };
    };
    const compare = COMPARE
      ? await measured(() =>
          syncChild(delayed, join(work, 'replica-6000-latency-compare'), false, false, COMPARE),
        )
      : undefined;
    const ours = await measured(() => syncChild(delayed, join(work, 'replica-6000-latency')));
    const theirs = await measured(() =>
      rcloneSync({ ...endpoints, s3: proxy.endpoint }, join(work, 'rclone-6000-latency')),
    );
    if (!theirs.result) return undefined;
    return {
      ours: ours.result,
      theirs: theirs.result,
      compare: compare?.result,
      inFlight: { ours: ours.inFlight, theirs: theirs.inFlight, compare: compare?.inFlight },
    };
  } finally {
    await proxy.stop();
  }
}

/**
 * One sync in a fresh process (scripts/bench/sync-child.ts) of the replica `dir` from `source` (the local stack's
 * endpoints as JSON, or `{"files": ROOT}`), asynchronously: s3rver runs in this process, and a synchronous wait
 * would stop it answering the child. Throws when the sync reported a problem.
 */
async function syncChild(
  source: string,
  dir: string,
  profile = false,
  logOnly = false,
  root = ROOT,
): Promise<ChildRun> {
  const server = process.cpuUsage();
  // BENCH_SYNC_CPU_PROF=DIR: a CPU profile of the first sync of the large archive (node --cpu-prof).
  const cpuProf = profile && process.env.BENCH_SYNC_CPU_PROF;
  const { stdout: out } = await execFileAsync(
    process.execPath,
    [
      ...(cpuProf ? ['--cpu-prof', '--cpu-prof-dir', cpuProf] : []),
      '--import',
      'tsx',
      join(root, 'scripts/bench/sync-child.ts'),
      source,
      dir,
      String(CONCURRENCY),
      ...(logOnly ? ['log-only'] : []),
    ],
    // The thread pool cli/bin.js gives the CLI (the child runs the sync's code without the bin).
    { cwd: root, encoding: 'utf8', maxBuffer: 1 << 20, env: { ...process.env, UV_THREADPOOL_SIZE: '16' } },
  );
  const used = process.cpuUsage(server);
  const run = {
    ...(JSON.parse(out.trim().split('\n').pop() as string) as Omit<ChildRun, 'serverCpuSeconds'>),
    serverCpuSeconds: (used.user + used.system) / 1e6,
  };
  if (!run.ok) throw new Error(`the bench's sync of ${dir} reported problems`);
  return run;
}

/**
 * Peak RSS of a first sync of one mailbox of MAILBOX_SMALL and of MAILBOX_LARGE messages (issue 29's scale rule:
 * within 1.5x), and of a sync with nothing new right after each. Each size has its own archive on local disk
 * (store/: raw objects and the delivery log, one log object per 1,000 deliveries as an import writes it;
 * transparency/: the log, sealed), filled through the ingest handler; each sync runs in a fresh process.
 * BENCH_SYNC_ARCHIVES=DIR keeps the archives there and reuses the ones already complete (a before/after pair of
 * runs then syncs the same archives).
 */
export async function mailboxScaleBench(
  work: string,
  messages: Buffer[],
  config: ArchiverConfig,
): Promise<{ rows: Row[]; notes: string[] }> {
  const archives = process.env.BENCH_SYNC_ARCHIVES ?? join(work, 'archives');
  const small = await mailboxSyncs(
    join(archives, `mailbox-${MAILBOX_SMALL}`),
    MAILBOX_SMALL,
    work,
    messages,
    config,
  );
  const large = await mailboxSyncs(
    join(archives, `mailbox-${MAILBOX_LARGE}`),
    MAILBOX_LARGE,
    work,
    messages,
    config,
  );
  const size = (n: number) => n.toLocaleString('en');
  return {
    rows: [
      {
        metric: `first sync peak RSS, one mailbox of ${size(MAILBOX_SMALL)} messages (archive on local disk)`,
        value: small.first.peakMb,
        unit: 'MB',
      },
      {
        metric: `first sync peak RSS, one mailbox of ${size(MAILBOX_LARGE)} messages (archive on local disk)`,
        value: large.first.peakMb,
        unit: 'MB',
        baseline: { name: `${size(MAILBOX_SMALL)} messages`, value: small.first.peakMb },
        target: `within 1.5x of ${size(MAILBOX_SMALL)}`,
        met: large.first.peakMb <= 1.5 * small.first.peakMb,
      },
      {
        metric: `sync with nothing new peak RSS, one mailbox of ${size(MAILBOX_SMALL)} messages`,
        value: small.idle.peakMb,
        unit: 'MB',
      },
      {
        metric: `sync with nothing new peak RSS, one mailbox of ${size(MAILBOX_LARGE)} messages`,
        value: large.idle.peakMb,
        unit: 'MB',
        baseline: { name: `${size(MAILBOX_SMALL)} messages`, value: small.idle.peakMb },
        target: `within 1.5x of ${size(MAILBOX_SMALL)}`,
        met: large.idle.peakMb <= 1.5 * small.idle.peakMb,
      },
    ],
    notes: [
      `Sync, one mailbox from an archive on local disk: first sync of ${size(small.first.added)} messages ${small.first.seconds.toFixed(1)} s, ${((small.first.cpuSeconds * 1000) / small.first.added).toFixed(2)} ms CPU a message, peak RSS ${small.first.peakMb.toFixed(0)} MB; of ${size(large.first.added)}: ${large.first.seconds.toFixed(1)} s, ${((large.first.cpuSeconds * 1000) / large.first.added).toFixed(2)} ms CPU a message, peak RSS ${large.first.peakMb.toFixed(0)} MB. Then nothing new: ${small.idle.seconds.toFixed(2)} s, ${small.idle.cpuSeconds.toFixed(2)} s CPU, ${small.idle.peakMb.toFixed(0)} MB at ${size(MAILBOX_SMALL)}; ${large.idle.seconds.toFixed(2)} s, ${large.idle.cpuSeconds.toFixed(2)} s CPU, ${large.idle.peakMb.toFixed(0)} MB at ${size(MAILBOX_LARGE)}; load average at the end ${loadavg()[0]?.toFixed(1)}.`,
    ],
  };
}

/**
 * A first sync of the archive of `count` messages at `root` (built first unless complete), then a sync with
 * nothing new of the same replica; each in a fresh process.
 */
async function mailboxSyncs(
  root: string,
  count: number,
  work: string,
  messages: Buffer[],
  config: ArchiverConfig,
): Promise<{ first: ChildRun; idle: ChildRun }> {
  if (!existsSync(join(root, 'complete'))) {
    rmSync(root, { recursive: true, force: true });
    await buildFileArchive(root, count, messages, config);
    writeFileSync(join(root, 'complete'), `${count}\n`);
  }
  const source = JSON.stringify({ files: root });
  const dir = join(work, `replica-${count}`);
  rmSync(dir, { recursive: true, force: true });
  const first = await syncChild(source, dir);
  const idle = await syncChild(source, dir);
  return { first, idle };
}

/** An archive of one mailbox of `count` messages on local disk at `root`, filled through the ingest handler, sealed. */
async function buildFileArchive(root: string, count: number, messages: Buffer[], config: ArchiverConfig) {
  const store = new FileRawMailStore(join(root, 'store'));
  const deliveryLog = new DeliveryLog(store, LOCAL_BUCKET);
  const handler = createIngestHandler({
    config,
    store,
    index: new MemoryMailIndex(),
    deliveryLog,
    logger: { info: () => undefined, warn: () => undefined },
  });
  const signer = new KeyFileSigner(
    'example.com/mail-archiver/bench/local',
    generateKeyPairSync('ed25519').privateKey,
  );
  const transparency = new DirectoryWriteOnceStore(join(root, 'transparency'));
  const start = Date.parse('2010-01-01T00:00:00Z');
  let delivered = 0;
  while (delivered < count) {
    const first = delivered;
    const end = Math.min(count, first + 1000);
    const log = new DeliveryLog(store, LOCAL_BUCKET, { now: () => new Date(start + first * 60_000) });
    const batch = log.batch('import');
    const deliver = deliverThrough(handler);
    const next = () => (delivered < end ? delivered++ : undefined);
    const worker = async () => {
      for (let i = next(); i !== undefined; i = next()) {
        const notification = await receiveRawMessage(
          { sesStore: store, bucket: LOCAL_BUCKET },
          {
            raw: nthCorpusCopy(messages, i),
            envelopeFrom: 'sender@example.org',
            recipients: ['alice@example.com'],
            receivedAt: new Date(start + i * 60_000),
          },
        );
        await deliver(notification, { logBatch: batch });
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    await batch.flush();
  }
  await seal({ store: transparency, signer, source: deliveryLogSource(deliveryLog) });
}

/** `rclone sync` of the archive's raw objects into `dir` (Debian's rclone, installed by the project's script). */
async function rcloneSync(
  endpoints: { s3: string; credentials?: { accessKeyId: string; secretAccessKey: string } },
  dir: string,
): Promise<{ seconds: number; cpuSeconds: number; serverCpuSeconds: number; objects: number } | undefined> {
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
  const server = process.cpuUsage();
  // Asynchronously, as the sync runs: s3rver answers from this process. bash's `times` prints rclone's CPU time
  // (user and system of the shell's children) on its last line.
  const { stdout } = await execFileAsync(
    'bash',
    [
      '-c',
      'rclone "$@" >/dev/null && times',
      'rclone',
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
  const used = process.cpuUsage(server);
  const [user = 0, system = 0] = [
    ...(stdout.trim().split('\n').pop() ?? '').matchAll(/(\d+)m([\d.]+)s/g),
  ].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return {
    seconds,
    cpuSeconds: user + system,
    serverCpuSeconds: (used.user + used.system) / 1e6,
    objects: readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length,
  };
}
