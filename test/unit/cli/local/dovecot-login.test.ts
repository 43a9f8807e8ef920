// The readiness check behind `serve` and every test's Dovecot (cli/local/dovecot.ts tryLogin): one LOGIN against
// servers on loopback that answer as Dovecot does while it starts, as another program on the port would, or not
// at all. A LOGIN Dovecot holds until its auth process is up (slow on a loaded machine) is "waiting", never
// "refused": startDovecot takes a refusal that lasts for another server on the port ("port busy").
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { tryLogin } from '../../../../cli/local/dovecot';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((done) => s.close(done))));
});

/** A server on a free loopback port: it sends `greeting` (nothing when undefined), then `onLine` answers each line. */
async function server(
  greeting: string | undefined,
  onLine: (line: string, socket: Socket) => void = () => undefined,
): Promise<number> {
  const s = createServer((socket) => {
    socket.on('error', () => undefined);
    if (greeting !== undefined) socket.write(greeting);
    let buffer = '';
    socket.on('data', (d: Buffer) => {
      buffer += d.toString('latin1');
      for (let end = buffer.indexOf('\r\n'); end >= 0; end = buffer.indexOf('\r\n')) {
        onLine(buffer.slice(0, end), socket);
        buffer = buffer.slice(end + 2);
      }
    });
  });
  servers.push(s);
  await new Promise<void>((done) => s.listen(0, '127.0.0.1', done));
  return (s.address() as { port: number }).port;
}

const GREETING = '* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] Dovecot ready.\r\n';
const tag = (line: string) => line.split(' ')[0];

describe('tryLogin', () => {
  it('ok when the credentials log in', async () => {
    const port = await server(GREETING, (line, socket) => {
      if (/^a1 LOGIN "archive" "secret"$/.test(line)) socket.write('a1 OK Logged in\r\n');
      else socket.write(`${tag(line)} OK Logout completed.\r\n`);
    });
    expect(await tryLogin(port, 'archive', 'secret', 2000)).toBe('ok');
  });

  it("waiting while the LOGIN is held for the auth process (Dovecot's 'Waiting for authentication process')", async () => {
    const port = await server(GREETING, (_line, socket) =>
      socket.write('* OK Waiting for authentication process to respond..\r\n'),
    );
    expect(await tryLogin(port, 'archive', 'secret', 300)).toBe('waiting');
  });

  it('ok when a held LOGIN is answered within the wait', async () => {
    const port = await server(GREETING, (line, socket) => {
      if (line.startsWith('a1 ')) setTimeout(() => socket.write('a1 OK Logged in\r\n'), 500);
    });
    expect(await tryLogin(port, 'archive', 'secret', 5000)).toBe('ok');
  });

  it('waiting on NO [UNAVAILABLE] (RFC 5530: try again later)', async () => {
    const port = await server(GREETING, (_line, socket) =>
      socket.write('a1 NO [UNAVAILABLE] Temporary authentication failure.\r\n'),
    );
    expect(await tryLogin(port, 'archive', 'secret', 2000)).toBe('waiting');
  });

  it('refused by another IMAP server that does not know the credentials', async () => {
    const port = await server(GREETING, (_line, socket) =>
      socket.write('a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n'),
    );
    expect(await tryLogin(port, 'archive', 'secret', 2000)).toBe('refused');
  });

  it('refused by a program that is not IMAP', async () => {
    const port = await server('220 mail.example ESMTP\r\n');
    expect(await tryLogin(port, 'archive', 'secret', 2000)).toBe('refused');
  });

  it('down when nothing listens, or nothing greets', async () => {
    const closed = await server(undefined);
    await new Promise((done) => servers.pop()?.close(done));
    expect(await tryLogin(closed, 'archive', 'secret', 2000)).toBe('down');
    const silent = await server(undefined);
    expect(await tryLogin(silent, 'archive', 'secret', 300)).toBe('down');
  });
});
