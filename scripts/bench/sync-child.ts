// One `sync` run of the bench's sync section in a fresh process (scripts/bench-sync.ts): the replica at argv[3]
// synced from the local stack whose endpoints are argv[2] (JSON), at the concurrency argv[4] (argv[5] `log-only`: without the transparency log). Prints one JSON line:
// the run's time, what it added (and how many records came from the transparency log's entry bundles), its peak RSS (the process's VmHWM: a first sync's memory), and every request
// the S3 client sent, counted by SDK middleware by command.
import type { HandlerExecutionContext, InitializeHandler } from '@smithy/types';
import { LOCAL_BUCKET, LOCAL_TABLE } from '../../cli/local/archive';
import { archiveStorage } from '../../cli/target/archive';
import { createClients, destroyClients, type LocalEndpoints } from '../../shared/adapters/clients';
import { syncReplica } from '../../shared/replica/sync';
import { peakRssKb } from './peak-rss';

const [endpointsJson, dir, concurrency, mode] = process.argv.slice(2);
const clients = createClients(JSON.parse(endpointsJson as string) as LocalEndpoints);
const requests: Record<string, number> = {};
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
const started = process.hrtime.bigint();
const cpuBefore = process.cpuUsage();
const report = await syncReplica(
  {
    log: storage.deliveryLog,
    store: storage.store,
    target: 'local',
    // 'log-only': the delivery log read whole, as a sync did before it read the transparency log's entry bundles.
    ...(mode === 'log-only' ? {} : { transparency: storage.transparency }),
  },
  { dir: dir as string, concurrency: Number(concurrency) },
);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const cpuUsed = process.cpuUsage(cpuBefore);
const cpu = (cpuUsed.user + cpuUsed.system) / 1e6;
destroyClients(clients);
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
