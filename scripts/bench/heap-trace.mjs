// Preloaded (`node --import`) into a command to see what its resident memory is made of over the run: every
// HEAP_TRACE_MS (default 100) it samples process.memoryUsage() and V8's heap spaces; at exit it prints to stderr one
// line, `heap-trace {...}`, with the peak (VmHWM) and the sample of the largest RSS, and writes every sample to
// $HEAP_TRACE_FILE when set. A timer cannot fire inside synchronous work (a JSON.parse of a large manifest), so the
// peak itself can fall between two samples: VmHWM is the figure, the samples say where it came from.
// Plain JavaScript because a preload runs before any TypeScript loader. Used for docs/benchmarks.md (Scale):
//   node --import ./scripts/bench/heap-trace.mjs cli/bin.js reindex --quiet
import { readFileSync, writeFileSync } from 'node:fs';
import v8 from 'node:v8';

const MB = 1024 * 1024;
const samples = [];
const started = performance.now();

function sample() {
  const usage = process.memoryUsage();
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.space_size]));
  samples.push({
    ms: Math.round(performance.now() - started),
    rss: usage.rss,
    heapTotal: usage.heapTotal,
    heapUsed: usage.heapUsed,
    external: usage.external,
    arrayBuffers: usage.arrayBuffers,
    newSpace: spaces.new_space ?? 0,
    oldSpace: spaces.old_space ?? 0,
    largeObjectSpace: spaces.large_object_space ?? 0,
  });
}

setInterval(sample, Number(process.env.HEAP_TRACE_MS ?? 100)).unref();

process.on('exit', () => {
  sample();
  const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  const peak = samples.reduce((a, b) => (b.rss > a.rss ? b : a));
  const inMb = (s) =>
    Object.fromEntries(Object.entries(s).map(([k, v]) => [k, k === 'ms' ? v : +(v / MB).toFixed(1)]));
  const max = (key) => +(Math.max(...samples.map((s) => s[key])) / MB).toFixed(1);
  const summary = {
    peakRssMb: hwm ? +(Number(hwm[1]) / 1024).toFixed(1) : undefined,
    samples: samples.length,
    atLargestRss: inMb(peak),
    maxHeapTotalMb: max('heapTotal'),
    maxArrayBuffersMb: max('arrayBuffers'),
  };
  if (process.env.HEAP_TRACE_FILE)
    writeFileSync(process.env.HEAP_TRACE_FILE, JSON.stringify({ summary, samples }));
  process.stderr.write(`heap-trace ${JSON.stringify(summary)}\n`);
});
