// The memory of the Lambdas every received message goes through: one value that the stack sets (ingest-pipeline.ts,
// forwarding.ts, receiving.ts) and that the benchmark's cost model prices (scripts/bench.ts). Lambda gives CPU
// in proportion to memory (AWS Lambda Developer Guide, "Configuring Lambda function memory"). Chosen from the peak
// RSS of each function's work on a typical message, on a 40 MB one (SES's largest) and on a batch of those, which
// `BENCH_ONLY=cost npm run bench` measures against these sizes (scripts/bench/lambda-memory.ts) and
// docs/benchmarks.md records. Changing one is an in-place update of the function (MemorySize is not a create-only
// property of AWS::Lambda::Function). No imports: the benchmark reads this without aws-cdk-lib.

/**
 * The ingest function's memory, in MB. Ingest streams each message, so a batch of the largest adds little to the
 * runtime's own memory; half of the earlier 1024 MB also halves what each millisecond of waiting on S3 and DynamoDB
 * costs.
 */
export const INGEST_MEMORY_MB = 512;

/**
 * The forward function's memory, in MB. The forward holds each message whole several times over (the raw bytes,
 * the rewritten copy, the SDK's base64 request body), so its handler forwards a batch's records one after the
 * other (lambdas/forward/handler.ts FORWARD_BATCH_IN_PARALLEL): it then needs room for one of the largest
 * messages, not a batch of them.
 */
export const FORWARD_MEMORY_MB = 512;

/**
 * The gatekeeper's memory, in MB: SES invokes it for every message when unknown recipients are bounced, and it
 * checks the recipients against the config it holds in memory, so the smallest size that starts quickly will do.
 */
export const GATEKEEPER_MEMORY_MB = 256;
