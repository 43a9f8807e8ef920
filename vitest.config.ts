// Four projects, one per kind of test, each with its own script (package.json):
//   unit         the core and the handlers on the in-memory index and local files: seconds (npm run test:unit)
//   infra        the synthesized template, cdk-nag, IAM evaluation (npm run test:infra)
//   integration  against DynamoDB Local and s3rver started per file (npm run test:integration)
//   e2e          the CLI, SMTP, Dovecot over IMAP, the local stack (npm run test:e2e)
// `npm test` (scripts/test.sh) runs all four.
import { defineConfig } from 'vitest/config';

const project = (name: string) => ({ extends: true, test: { name, include: [`test/${name}/**/*.test.ts`] } });

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: each integration file starts its own DynamoDB Local (a JVM).
    maxWorkers: 2,
    projects: [project('unit'), project('infra'), project('integration'), project('e2e')],
  },
});
