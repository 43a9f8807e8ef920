// The errors a send can end in, shared by the forwarder, the SES and Gmail transports and the forward handler:
// a leaf module, so that transports and the ports can name them without importing the forwarder.

/** A send that failed; `permanent` ones are parked (ledger + dead-letter queue) instead of retried. */
export class SendError extends Error {
  override name = 'SendError';
  constructor(
    message: string,
    readonly permanent: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Thrown when a send failed transiently: the queue retries the request with backoff. */
export class RetryLaterError extends Error {
  override name = 'RetryLaterError';
}
