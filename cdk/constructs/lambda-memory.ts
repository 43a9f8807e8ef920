// The memory of the two Lambdas every received message goes through: one value that the stack sets
// (ingest-pipeline.ts, forwarding.ts) and that the benchmark's cost model prices (scripts/bench.ts). Lambda gives CPU
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
 * the rewritten copy, the SDK's base64 request body), and its handler forwards a batch's records at once: at 512 MB
 * two of the largest messages in one batch would leave no headroom, three would not fit.
 */
export const FORWARD_MEMORY_MB = 1024;
