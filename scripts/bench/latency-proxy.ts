// A TCP proxy that holds every chunk a client sends for `delayMs` before passing it on: each HTTP request then
// waits that long for its answer, as a request to S3 over the Internet waits for the network and S3's first byte
// (AWS: small GETs' median latency is "in the range of tens of milliseconds", Best Practices Design Patterns:
// Optimizing Amazon S3 Performance, "Timeouts and Retries for Latency-Sensitive Applications"). The bench puts it
// in front of s3rver to compare sync and rclone where the link, not the machine's two cores, sets the pace.
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface LatencyProxy {
  /** `http://127.0.0.1:<port>`: the endpoint to give clients instead of the upstream's. */
  endpoint: string;
  stop(): Promise<void>;
}

/** Starts a proxy on loopback in front of `upstream` (`http://host:port`), each request delayed `delayMs` ms. */
export async function startLatencyProxy(upstream: string, delayMs: number): Promise<LatencyProxy> {
  const target = new URL(upstream);
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const server = connect(Number(target.port), target.hostname);
    sockets.add(client).add(server);
    // Chunks leave in order, each no sooner than delayMs after it arrived.
    let last = 0;
    client.on('data', (chunk) => {
      const due = Math.max(Date.now() + delayMs, last);
      last = due;
      setTimeout(() => server.write(chunk), due - Date.now());
    });
    server.pipe(client);
    const close = () => {
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
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
