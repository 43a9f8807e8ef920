// A TCP server on loopback that accepts every connection and never answers: an S3 that hangs (a stopped server, a
// connection dead behind NAT), for the tests of what a client does then.
import { createServer, type Socket } from 'node:net';

/** Starts it; `endpoint` is its http:// URL, `close` drops every connection and stops it. */
export async function startSilentServer(): Promise<{ endpoint: string; close: () => Promise<void> }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const endpoint = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    endpoint,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
