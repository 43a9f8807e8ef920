// Network ports the CLI opens: each is chosen by a flag (0 or none: a free one) and printed. A busy port is a
// user mistake with a plain remedy, checked before anything starts.
import { createServer } from 'node:net';
import { UserError } from './output';

/**
 * Resolves when `port` on `host` can be bound right now; throws UserError naming the port and the flag that
 * chooses another when something already listens there. Port 0 always resolves (the OS picks one later).
 */
export async function assertPortFree(host: string, port: number, flag: string): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') reject(busyPortError(host, port, flag, error));
      else if (error.code === 'EACCES')
        reject(
          new UserError(`port ${port} on ${host} needs privileges this user lacks`, {
            hint: `choose a port above 1023 with ${flag} N, or ${flag} 0 for a free one`,
            cause: error,
          }),
        );
      else reject(error);
    });
    server.listen(port, host, () => server.close(() => resolve()));
  });
}

export function busyPortError(host: string, port: number, flag: string, cause?: unknown): UserError {
  return new UserError(`port ${port} on ${host} is already in use by another program`, {
    hint: `choose another with ${flag} N, or ${flag} 0 for a free one`,
    cause,
  });
}
