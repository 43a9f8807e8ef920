#!/usr/bin/env node
// The package's bin: runs the compiled CLI (dist/, built by scripts/build-cli.mjs, which `npm ci` runs as the
// package's prepare script). When dist/ is missing, or a source it was built from is newer (an edit not built
// yet), it runs the TypeScript sources through tsx (a development dependency) instead: slower, never stale.
import { readFileSync, statSync } from 'node:fs';
import module from 'node:module';
import v8 from 'node:v8';

// Node 22.1 and newer keep the compiled code of the modules on disk (the system's temporary directory): a command
// after the first skips most of its compilation. Older nodes have no such cache and start as before.
module.enableCompileCache?.();

// Through npm (npm start, npx) this runs on the Node 22 of the lock file; a command linked with `npm link` runs
// on the node of the user's PATH, which may be older: the AWS SDK's notice about Node 22 is not for our user.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// File work runs on libuv's thread pool, 4 threads by default: a sync's fsync of each downloaded message (and an
// export's or a restore's file work) then waits on 4 at a time, while the disk's journal commits many fsyncs
// together when more arrive at once (docs/benchmarks.md, Sync). Read when the pool first starts, which is later.
process.env.UV_THREADPOOL_SIZE ??= '16';

// After a full collection V8 lets the old generation grow to up to 4 times what survived before it collects again,
// and early in a run (little survived, allocation fast) it takes about that: a long command (reindex, an
// incremental export) then peaks by how long it ran, not by what it holds, since what its pages of rows leave
// behind piles up to that limit (docs/benchmarks.md, Scale). A fixed factor of 1.75 keeps the peak near what is
// live, for a few more collections. Set before the heap grows; node's own --heap-growing-percent, if given, wins
// (in either spelling: V8 reads '_' in a flag's name as '-').
if (!process.execArgv.some((arg) => arg.replaceAll('_', '-').startsWith('--heap-growing-percent')))
  v8.setFlagsFromString('--heap-growing-percent=75');

const ROOT = new URL('../', import.meta.url);

/** The first source newer than the build, '' when the build is current, undefined when there is none. */
function staleSource() {
  let build;
  try {
    build = JSON.parse(readFileSync(new URL('dist/inputs.json', ROOT), 'utf8'));
  } catch {
    return undefined;
  }
  for (const input of build.inputs) {
    try {
      if (statSync(new URL(input, ROOT)).mtimeMs > build.builtAt) return input;
    } catch {
      return input;
    }
  }
  return '';
}

const stale = process.env.MAIL_ARCHIVER_FROM_SOURCES ? 'MAIL_ARCHIVER_FROM_SOURCES' : staleSource();
let cli;
if (stale === '') {
  cli = await import('../dist/cli.js');
} else {
  // Said to a person at a terminal only: scripts and tests get the same output either way.
  if (process.stderr.isTTY)
    process.stderr.write(
      `mail-archiver: running the sources (${stale === undefined ? 'not built' : `${stale} is newer than the build`}): npm run build makes every command start at once\n`,
    );
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import('./main.ts');
}
if (process.env.MAIL_ARCHIVER_TRACE_STARTUP)
  process.stderr.write(
    `mail-archiver: running ${stale === '' ? 'dist/cli.js' : 'cli/main.ts through tsx'}\n`,
  );
await cli.main(process.argv);
