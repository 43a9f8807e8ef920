// The canary's ping against a real HTTP server on loopback: a 2xx answer is success; an error status, a refused
// connection and a server that never answers are PingErrors naming the host and why, within the timeout.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpPing, PingError } from '../../../shared/adapters/http-ping';

let server: Server;
let base: string;
const seen: { method: string; url: string; agent: string }[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    seen.push({
      method: request.method ?? '',
      url: request.url ?? '',
      agent: String(request.headers['user-agent']),
    });
    if (request.url === '/hang') return; // never answers
    if (request.url === '/moved') {
      response.writeHead(302, { location: '/ok' }).end();
      return;
    }
    response.writeHead(request.url === '/ok' ? 200 : 500, { 'content-type': 'text/plain' }).end('OK');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('httpPing', () => {
  it('GETs the URL (following a redirect) and succeeds on 2xx', async () => {
    seen.length = 0;
    await httpPing()(`${base}/moved`);
    expect(seen).toEqual([
      { method: 'GET', url: '/moved', agent: 'mail-archiver canary' },
      { method: 'GET', url: '/ok', agent: 'mail-archiver canary' },
    ]);
  });

  it('an error status is a PingError with the status', async () => {
    await expect(httpPing()(`${base}/fail`)).rejects.toThrow(
      new PingError(`ping ${new URL(base).host}: HTTP 500 Internal Server Error`),
    );
  });

  it('a refused connection and a server that never answers are PingErrors, the latter after the timeout', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const refused = httpPing()(`http://127.0.0.1:${port}/x`);
    await expect(refused).rejects.toBeInstanceOf(PingError);
    await expect(refused).rejects.toThrow(/ECONNREFUSED/);
    const started = Date.now();
    await expect(httpPing({ timeoutMs: 300 })(`${base}/hang`)).rejects.toThrow(/no answer within 0.3 s/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
