// `npm run build` (and `npm ci`, through the prepare script): compiles the CLI into dist/ with esbuild, so that
// cli/bin.js runs JavaScript and no TypeScript compiler stands between a command and its answer. Our own code
// is bundled, the packages stay in node_modules (imported as they are, native parts and data files included),
// and every dynamic import() of ours becomes a chunk of its own: a command loads only what it uses.
// dist/inputs.json lists the sources the build read: cli/bin.js runs the sources through tsx instead when one
// of them is newer than the build (an edit not yet built). dist/command-list.json describes every command for the
// root help, taken from the built program itself, so `--help` loads no command (cli/process/command-list.ts).
// Plain JavaScript on purpose: it runs before anything else of ours can, straight after `npm ci` installs.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Packages bundled into dist/ rather than imported from node_modules: the AWS SDK (hundreds of small files, whose
 * resolution and loading was most of a `list` against a running stack) and the small pure-JavaScript packages
 * every command loads. Everything else stays in node_modules as installed (native parts, data files, the
 * DynamoDB Local jar, packages that read their own files).
 */
const BUNDLED = (name) => name.startsWith('@aws-sdk/') || name === 'commander' || name === 'zod';

function externalPackages() {
  const { dependencies, devDependencies } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  return Object.keys({ ...dependencies, ...devDependencies }).filter((name) => !BUNDLED(name));
}

/**
 * Builds the CLI into `outdir` (default: dist/ of the checkout; cli/bin.js and the package's paths
 * (../package.json from the entry) expect it one level below the root). Returns the entry's path.
 */
export async function buildCli(outdir = join(ROOT, 'dist')) {
  const started = Date.now();
  // Built beside and renamed into place: a command started meanwhile finds the old build or the new one whole.
  const building = `${outdir}.building-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  mkdirSync(building, { recursive: true });
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { cli: 'cli/main.ts' },
    outdir: building,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: externalPackages(),
    // Bundled CommonJS calls require() for node's own modules: an ES module has none, so each file gets one.
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'warning',
    // Beside the entry, one level below the root like cli/: paths our code builds from import.meta.url hold.
    chunkNames: '[name]-[hash]',
  });
  const inputs = Object.keys(result.metafile.inputs)
    .filter((input) => !input.startsWith('node_modules/'))
    .sort();
  writeFileSync(join(building, 'inputs.json'), `${JSON.stringify({ builtAt: started, inputs }, null, 1)}\n`);
  // Loading the built entry runs nothing (cli/bin.js calls its main); commandList() registers every command.
  const { commandList } = await import(pathToFileURL(join(building, 'cli.js')).href);
  writeFileSync(join(building, 'command-list.json'), `${JSON.stringify(await commandList(), null, 1)}\n`);
  rmSync(outdir, { recursive: true, force: true });
  renameSync(building, outdir);
  return { entry: join(outdir, 'cli.js'), inputs, ms: Date.now() - started };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { entry, inputs, ms } = await buildCli(process.argv[2]);
  console.log(`built ${relative(ROOT, entry)} from ${inputs.length} sources in ${ms} ms`);
}
