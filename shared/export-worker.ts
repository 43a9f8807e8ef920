// An export runs in a worker thread with a small, fixed V8 heap. The exporter keeps nothing per message, but left
// to V8's defaults its garbage is collected ever more lazily as a run goes on: the young generation grows up to
// its maximum (which the Lambda runtime sets at a twentieth of the function's memory, 102 MB at 2 GB) and
// promoted garbage, with the message buffers it holds, waits for rarer full collections. Peak memory then grew
// with the mailbox (npm run bench: 118 MB at 1,000 messages, 162 MB at 10,000). In a bounded heap it is flat, and
// a leak would fail loudly with a clear message instead of slowly using up the function's memory.
import { isMainThread, parentPort, Worker, type WorkerOptions, workerData } from 'node:worker_threads';

/** Measured with `npm run bench`: as fast as the defaults, and the export's live heap is a few megabytes. */
export const EXPORT_HEAP_LIMITS = { maxYoungGenerationSizeMb: 3, maxOldGenerationSizeMb: 64 } as const;

type Reply<T> = { ok: true; value: T } | { ok: false; message: string; stack?: string };

/**
 * Runs the worker side of `entry` (a module that calls `serveExportWorker`) on `input`, in a worker thread with
 * EXPORT_HEAP_LIMITS. Input and result cross threads by structured clone.
 */
export function runInExportWorker<T>(
  entry: string | URL,
  input: unknown,
  options: Pick<WorkerOptions, 'eval'> = {},
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const worker = new Worker(entry, { ...options, workerData: input, resourceLimits: EXPORT_HEAP_LIMITS });
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
      // The worker's SDK clients keep sockets open; a warm Lambda must not keep one worker per invocation.
      void worker.terminate();
    };
    worker.once('message', (reply: Reply<T>) =>
      settle(() => {
        if (reply.ok) resolve(reply.value);
        else reject(Object.assign(new Error(reply.message), reply.stack ? { stack: reply.stack } : {}));
      }),
    );
    worker.once('error', (error: Error & { code?: string }) =>
      settle(() =>
        reject(
          error.code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? new Error(
                `the export ran out of its ${EXPORT_HEAP_LIMITS.maxOldGenerationSizeMb} MB heap (EXPORT_HEAP_LIMITS in shared/export-worker.ts): ${error.message}`,
              )
            : error,
        ),
      ),
    );
    worker.once('exit', (code) =>
      settle(() => reject(new Error(`the export worker exited (code ${code}) without a result`))),
    );
  });
}

/**
 * In a worker started by runInExportWorker: runs `work` on the worker's input and replies with its result (or
 * error); the main thread then ends the worker. Returns false on the main thread, where it does nothing.
 */
export function serveExportWorker<I, T>(work: (input: I) => Promise<T>): boolean {
  const port = parentPort;
  if (isMainThread || !port) return false;
  work(workerData as I).then(
    (value) => port.postMessage({ ok: true, value } satisfies Reply<T>),
    (error: Error) =>
      port.postMessage({ ok: false, message: error.message, stack: error.stack } satisfies Reply<T>),
  );
  return true;
}
