#!/usr/bin/env node
// The package's bin: runs the TypeScript CLI through tsx, so no build step stands between a checkout and use.
import { register } from 'tsx/esm/api';

// Through npm (npm start, npx) this runs on the Node 22 of the lock file; a command linked with `npm link` runs
// on the node of the user's PATH, which may be older: the AWS SDK's notice about Node 22 is not for our user.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
const { main } = await import('./main.ts');
await main(process.argv);
