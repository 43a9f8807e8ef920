#!/usr/bin/env node
// The package's bin: runs the TypeScript CLI through tsx, so no build step stands between a checkout and use.
import { register } from 'tsx/esm/api';

// Local tools run on Node 20 too; the deployed Lambdas run Node 22 (see README).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
const { main } = await import('./main.ts');
await main(process.argv);
