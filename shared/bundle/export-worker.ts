// An export part runs in a worker thread with a small, fixed V8 heap. The exporter keeps nothing per message, but
// V8 collects its garbage ever more lazily as a run goes on: the young generation grows to its maximum (the Lambda
// runtime starts Node with a semi-space of a twentieth of the function's memory, 102 MB at 2 GB) and promoted
// garbage, with the message buffers it holds, waits for rarer full collections. With the Lambda runtime's flags
// the exporter's peak RSS grew from 112 MB at 1,000 messages to 148 MB at 10,000 and 188 MB at 30,000
// (npm run bench); in this worker it was 131, 138 and 147 MB, and a leak would fail loudly instead of slowly.
import { isMainThread, parentPort, Worker, type WorkerOptions, workerData } from 'node:worker_threads';

/**
 * The worker's live heap is about 15 MB (the Lambda bundle's modules) plus a few for the export, so 64 MB leaves
 * room; a 3 MB young generation exported no slower than node's default one in the benchmark's runs.
 */
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
                `the export ran out of its ${EXPORT_HEAP_LIMITS.maxOldGenerationSizeMb} MB heap (EXPORT_HEAP_LIMITS in shared/bundle/export-worker.ts): ${error.message}`,
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
