#!/usr/bin/env bash
# `npm test`: system dependencies, type check, lint, then every test (unit, infrastructure, integration against
# DynamoDB Local and s3rver, end to end over SMTP and IMAP). The last line is "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .test-results

passed=0
failed=0
check() {
  local name=$1; shift
  echo "== $name"
  if "$@"; then passed=$((passed + 1)); else echo "!! $name failed"; failed=$((failed + 1)); fi
}

# npm puts node_modules/.bin first on PATH: `node` is the Node 22 of the lock file (package.json
# optionalDependencies), the Lambda runtime's major, whatever Node runs npm itself.
echo "== node $(node --version) ($(command -v node)); npm runs on $("${npm_node_execpath:-node}" --version)"
check "system dependencies" bash scripts/install-system-deps.sh
# The compiled CLI (npm ci builds it too): the tests that run cli/bin.js run what users run, never a stale build.
check "build the CLI" node scripts/build-cli.mjs
check "type check" npx --no-install tsc --noEmit -p .
check "lint and format" npx --no-install biome check .

echo "== tests"
rm -f .test-results/vitest.json
npx --no-install vitest run --reporter=default --reporter=json --outputFile.json=.test-results/vitest.json "$@"
vitest_status=$?
if [ -f .test-results/vitest.json ]; then
  read -r tp tf < <(node -e '
    const r = JSON.parse(require("fs").readFileSync(".test-results/vitest.json", "utf8"));
    // A failing test also fails its describe block and file: suites count only when no test failed (an import or
    // a beforeAll that threw).
    const failedTests = r.numFailedTests + (r.numRuntimeErrors || 0);
    console.log(r.numPassedTests, failedTests || r.numFailedTestSuites || 0);
  ')
  passed=$((passed + tp))
  failed=$((failed + tf))
  [ "$vitest_status" -ne 0 ] && [ "$tf" -eq 0 ] && failed=$((failed + 1))
else
  echo "!! vitest wrote no results"
  failed=$((failed + 1))
fi

summary="$passed passed, $failed failed"
echo "$summary" > .test-results/summary.txt
echo "$summary"
[ "$failed" -eq 0 ]
