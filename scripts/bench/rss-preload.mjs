// Preloaded (`node --import`) into each command the bench's scale section measures: when the process exits it writes
// its peak resident memory (KiB, VmHWM) to $BENCH_RSS_FILE. Plain JavaScript because a preload runs before any
// TypeScript loader; the same reading as peakRssKb in peak-rss.ts, which says why it is VmHWM and not maxRSS.
import { readFileSync, writeFileSync } from 'node:fs';

process.on('exit', () => {
  if (!process.env.BENCH_RSS_FILE) return;
  let kb = process.resourceUsage().maxRSS;
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match) kb = Number(match[1]);
  } catch {
    // No /proc (macOS): maxRSS.
  }
  writeFileSync(process.env.BENCH_RSS_FILE, String(kb));
});
