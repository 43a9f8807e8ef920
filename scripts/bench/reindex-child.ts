// One reindex with nothing to do over the simulated archive (synthetic-archive.ts) in a fresh process: CPU time
// and wall time per message, to tell our own code's growth from the local services'. Prints one JSON line.
// Run as: node --import tsx scripts/bench/reindex-child.ts <n>   (add --cpu-prof to profile)
import { reindex } from '../../shared/archive/reindex';
import { DeliveryLog } from '../../shared/delivery-log/log';
import { measure } from './measure';
import { peakRssKb } from './peak-rss';
import { syntheticArchive, syntheticConfig } from './synthetic-archive';

const count = Number(process.argv[2]);
const simulated = syntheticArchive(count);
// Every call the run makes to the store and the index, by method: requests per message should not grow.
const calls: Record<string, number> = {};
const counted = <T extends object>(name: string, target: T): T =>
  new Proxy(target, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls[`${name}.${String(property)}`] = (calls[`${name}.${String(property)}`] ?? 0) + 1;
        return value.apply(object, args);
      };
    },
  });
const archive = {
  ...simulated,
  store: counted('store', simulated.store),
  index: counted('index', simulated.index),
};
const deps = {
  config: syntheticConfig(),
  ...archive,
  deliveryLog: new DeliveryLog(archive.store, archive.bucket),
};
const { result: report, seconds, cpuSeconds } = await measure(() => reindex(deps, async () => []));
console.log(
  JSON.stringify({
    count,
    seconds,
    cpuSeconds,
    cpuMsPerMessage: (cpuSeconds * 1000) / count,
    peakRssMb: peakRssKb() / 1024,
    heapUsedMb: process.memoryUsage().heapUsed / 1024 / 1024,
    examined: report.examined,
    restored: report.restored,
    failed: report.failed.length,
    logged: report.logged,
    firstFailure: report.failed[0],
    callsPerMessage: Object.fromEntries(Object.entries(calls).map(([k, v]) => [k, v / count])),
  }),
);
