// What a bench child measures around the one call it exists for: wall time and the process's CPU time.

/** Runs `work` once: its result, wall seconds and CPU seconds (user + system, every thread) of this process. */
export async function measure<T>(
  work: () => Promise<T>,
): Promise<{ result: T; seconds: number; cpuSeconds: number }> {
  const started = process.hrtime.bigint();
  const cpuBefore = process.cpuUsage();
  const result = await work();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  return { result, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}
