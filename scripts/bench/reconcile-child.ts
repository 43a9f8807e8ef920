// One reconcile over the simulated archive (synthetic-archive.ts) in a fresh process, its peak RSS sampled every
// millisecond. Prints one JSON line. Run as: node --import tsx --expose-gc scripts/bench/reconcile-child.ts <after|before> <n>
import { reconcile } from '../../shared/archive/reconcile';
import { DeliveryLog } from '../../shared/delivery-log/log';
import { reconcileBefore } from './reconcile-before';
import { syntheticArchive, syntheticConfig } from './synthetic-archive';

const [which, count] = [process.argv[2], Number(process.argv[3])];
const archive = syntheticArchive(count);
const deps = {
  config: syntheticConfig(),
  ...archive,
  deliveryLog: new DeliveryLog(archive.store, archive.bucket),
};
(globalThis as { gc?: () => void }).gc?.();
// What the simulated archive itself left (its message-key order, built up front) is counted apart.
const startRss = process.memoryUsage().rss;
let peak = startRss;
const timer = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 1);
const start = process.hrtime.bigint();
const report = which === 'before' ? await reconcileBefore(deps) : await reconcile(deps);
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
clearInterval(timer);
peak = Math.max(peak, process.memoryUsage().rss);
console.log(
  JSON.stringify({
    which,
    count,
    peakMb: peak / 1024 / 1024,
    startMb: startRss / 1024 / 1024,
    seconds,
    ok: report.ok,
    rawMessages: report.rawMessages,
    indexRows: report.indexRows,
    ledgerEntries: report.ledgerEntries,
  }),
);
