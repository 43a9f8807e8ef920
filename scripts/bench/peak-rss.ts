// The peak resident memory of the process that calls it, for the bench's child processes.
//
// Why not `process.resourceUsage().maxRSS`: on Linux a child's maxRSS starts at its parent's high-water mark,
// because fork copies the parent's memory map (with its high-water RSS) and execve folds the old map's peak into
// the process's maxrss (getrusage(2): ru_maxrss; kernel fs/exec.c, setmax_mm_hiwater_rss). Every command the bench
// spawned reported the bench's own peak (228 MB) whatever it used. VmHWM in /proc/self/status is the peak of the
// process's current memory map only, which execve makes new (proc(5)). rss-preload.mjs reads it the same way for the
// compiled CLI.
import { readFileSync } from 'node:fs';

/** The peak resident set size of this process since it was exec'd, in KiB (VmHWM; maxRSS where /proc is absent). */
export function peakRssKb(): number {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match) return Number(match[1]);
  } catch {
    // No /proc (macOS): maxRSS.
  }
  return process.resourceUsage().maxRSS;
}
