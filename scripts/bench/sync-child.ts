// One `sync` run of the bench's sync section in a fresh process (scripts/bench-sync.ts): the replica at argv[3]
// synced from the local stack whose endpoints are argv[2] (JSON; `{"files": ROOT}`: an archive on local disk, see
// bench-sync.ts fileArchive), at the concurrency argv[4] (argv[5] `log-only`: without the transparency log). Prints one JSON line:
// the run's time, what it added (and how many records came from the transparency log's entry bundles), its peak RSS (the process's VmHWM: a first sync's memory), and every request
// the S3 client sent, counted by SDK middleware by command.
import { join } from 'node:path';
import type { HandlerExecutionContext, InitializeHandler } from '@smithy/types';
import { LOCAL_BUCKET, LOCAL_TABLE } from '../../cli/local/archive';
import { archiveStorage } from '../../cli/target/archive';
import { createClients, destroyClients, type LocalEndpoints } from '../../shared/adapters/clients';
import { DirectoryWriteOnceStore } from '../../shared/adapters/dir-write-once-store';
import { FileRawMailStore } from '../../shared/adapters/file-store';
import { DeliveryLog } from '../../shared/delivery-log/log';
import { syncReplica } from '../../shared/replica/sync';
import { measure } from './measure';
import { peakRssKb } from './peak-rss';

const [endpointsJson, dir, concurrency, mode] = process.argv.slice(2);
const endpoints = JSON.parse(endpointsJson as string) as LocalEndpoints | { files: string };
const requests: Record<string, number> = {};
const {
  result: report,
  seconds,
  cpuSeconds: cpu,
} = await measure(() =>
  syncReplica('files' in endpoints ? fileSource(endpoints.files) : s3Source(endpoints), {
    dir: dir as string,
    concurrency: Number(concurrency),
  }),
);
console.log(
  JSON.stringify({
    seconds,
    cpuSeconds: cpu,
    ok: report.ok,
    added: report.added,
    logObjects: report.logObjects,
    leaves: report.leaves,
    bytes: report.bytes,
    peakMb: peakRssKb() / 1024,
    requests,
  }),
);
// A handle left open (the SDK's sockets, a timer) must not keep the bench waiting on this process.
process.exit(0);

/** The local stack's archive (s3rver), every request counted. */
function s3Source(local: LocalEndpoints) {
  const clients = createClients(local);
  process.once('exit', () => destroyClients(clients));
  clients.s3.middlewareStack.add(
    <I extends object, O extends object>(next: InitializeHandler<I, O>, context: HandlerExecutionContext) =>
      async (args: Parameters<InitializeHandler<I, O>>[0]) => {
        const name = String(context.commandName).replace(/Command$/, '');
        requests[name] = (requests[name] ?? 0) + 1;
        return next(args);
      },
    { step: 'initialize', name: 'benchSyncRequestCounter' },
  );
  const storage = archiveStorage(clients, LOCAL_BUCKET, LOCAL_TABLE);
  return {
    log: storage.deliveryLog,
    store: storage.store,
    target: 'local',
    // 'log-only': the delivery log read whole, as a sync did before it read the transparency log's entry bundles.
    ...(mode === 'log-only' ? {} : { transparency: storage.transparency }),
  };
}

/** An archive on local disk (raw objects and delivery log under ROOT/store, transparency log under ROOT/transparency). */
function fileSource(root: string) {
  const store = new FileRawMailStore(join(root, 'store'));
  return {
    log: new DeliveryLog(store, LOCAL_BUCKET),
    store,
    target: 'local',
    transparency: new DirectoryWriteOnceStore(join(root, 'transparency')),
  };
}
