// `node --import ./test/support/trace-loaded.mjs ...` with TRACE_LOADED_MODULES=<file>: appends the URL of every ES
// module the process loads to that file, one a line (node's module customization hooks, node >= 20.6). What the
// compiled CLI loads is ES modules only (dist/ and the packages it imports as such).
import { appendFileSync } from 'node:fs';
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

// Preloaded on the main thread, this registers itself; node then runs it again on its hooks thread.
if (isMainThread) register(import.meta.url);

export async function load(url, context, next) {
  if (process.env.TRACE_LOADED_MODULES) appendFileSync(process.env.TRACE_LOADED_MODULES, `${url}\n`);
  return next(url, context);
}
