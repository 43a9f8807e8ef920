// A TCP proxy that holds every chunk a client sends for `delayMs` before passing it on: each HTTP request then
// waits that long for its answer, as a request to S3 over the Internet waits for the network and S3's first byte
// (AWS: small GETs' median latency is "in the range of tens of milliseconds", Best Practices Design Patterns:
// Optimizing Amazon S3 Performance, "Timeouts and Retries for Latency-Sensitive Applications"). The bench puts it
// in front of s3rver to compare sync and rclone where the link, not the machine's two cores, sets the pace.
// It also counts the requests waiting for their answer over time, the same way for any client (a request waits
// from its first byte reaching the proxy to the first byte of its answer): how many a tool keeps in flight.
import { connect, createServer, type Server, type Socket } from 'node:net';

/** Requests in flight over a period (InFlightGauge.read). */
export interface InFlight {
  /** Requests answered (first byte of the answer seen). */
  requests: number;
  /** The period's length, seconds. */
  seconds: number;
  /** Requests waiting for their answer, averaged over the period's time. */
  mean: number;
  /** Seconds spent with exactly k requests waiting, at index k. */
  secondsAt: number[];
}

/** Requests waiting for an answer, integrated over time (one HTTP/1.1 request at a time per connection). */
export class InFlightGauge {
  private count = 0;
  private requests = 0;
  private since = performance.now();
  private last = this.since;
  private at: number[] = [];

  /** Starts a new period (the counts of requests still waiting carry over). */
  reset(): void {
    this.since = performance.now();
    this.last = this.since;
    this.at = [];
    this.requests = 0;
  }

  /** A request started (+1), or got the first byte of its answer or lost its connection (-1). */
  change(delta: 1 | -1, answered = delta < 0): void {
    this.tick();
    this.count += delta;
    if (answered) this.requests += 1;
  }

  /** The period since the last reset. */
  read(): InFlight {
    this.tick();
    const seconds = (this.last - this.since) / 1000;
    const secondsAt = Array.from(this.at, (ms) => (ms ?? 0) / 1000);
    const weighted = secondsAt.reduce((sum, s, k) => sum + s * k, 0);
    return { requests: this.requests, seconds, mean: seconds > 0 ? weighted / seconds : 0, secondsAt };
  }

  private tick(): void {
    const now = performance.now();
    this.at[this.count] = (this.at[this.count] ?? 0) + (now - this.last);
    this.last = now;
  }
}

export interface LatencyProxy {
  /** `http://127.0.0.1:<port>`: the endpoint to give clients instead of the upstream's. */
  endpoint: string;
  /** The requests waiting for their answer (reset it before the run it measures). */
  inFlight: InFlightGauge;
  stop(): Promise<void>;
}

/** Starts a proxy on loopback in front of `upstream` (`http://host:port`), each request delayed `delayMs` ms. */
export async function startLatencyProxy(upstream: string, delayMs: number): Promise<LatencyProxy> {
  const target = new URL(upstream);
  const sockets = new Set<Socket>();
  const inFlight = new InFlightGauge();
  const server: Server = createServer((client) => {
    const server = connect(Number(target.port), target.hostname);
    sockets.add(client).add(server);
    // A request's bytes come before its answer's (no pipelining from the SDK or rclone): the first chunk from the
    // client starts one, the first chunk back ends its wait.
    let waiting = false;
    // Chunks leave in order, each no sooner than delayMs after it arrived.
    let last = 0;
    client.on('data', (chunk) => {
      if (!waiting) {
        waiting = true;
        inFlight.change(1);
      }
      const due = Math.max(Date.now() + delayMs, last);
      last = due;
      setTimeout(() => server.write(chunk), due - Date.now());
    });
    server.on('data', () => {
      if (!waiting) return;
      waiting = false;
      inFlight.change(-1);
    });
    server.pipe(client);
    const close = () => {
      if (waiting) {
        waiting = false;
        inFlight.change(-1, false);
      }
      client.destroy();
      server.destroy();
      sockets.delete(client);
      sockets.delete(server);
    };
    client.on('error', close).on('close', () => setTimeout(close, delayMs + 1));
    server.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    inFlight,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
