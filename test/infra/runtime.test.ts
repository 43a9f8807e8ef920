// The tests run on the Node major the Lambdas run: every function of the synthesized stack names the runtime of
// the process running this test (a vitest worker, started by `npm test` with the Node that `npm ci` installs
// from the lock file, package.json optionalDependencies), so a test suite that passes here passed on the runtime
// that ships. A runtime upgrade is a change in both places.
import { describe, expect, it } from 'vitest';
import { exampleConfig } from '../support/config';
import { synthesize } from './synth';

const major = Number(process.versions.node.split('.')[0]);

describe('the runtime', () => {
  // Synthesis takes seconds; on a 2-core machine shared with other jobs it took over a minute.
  it('every Lambda runs the Node major the tests run on', { timeout: 300_000 }, () => {
    const config = exampleConfig({
      mailboxes: {
        'alice@example.com': {
          forwardTo: [{ address: 'alice.example@gmail.com', via: 'gmail-api', collectSent: true }],
        },
      },
    });
    const functions = synthesize(config).template.findResources('AWS::Lambda::Function');
    const runtimes = new Set(Object.values(functions).map((f) => f.Properties.Runtime));
    // All ten, the scheduled Sent collection, the transparency log's seal and the canary included.
    expect(Object.keys(functions)).toHaveLength(10);
    expect(
      [...runtimes],
      `this test ran on Node ${process.version}: run it through npm (npm test, npx vitest)`,
    ).toEqual([`nodejs${major}.x`]);
  });
});
