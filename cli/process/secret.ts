// A secret typed in the terminal, never echoed: restore's IMAP password, a bundle's passphrase.
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';

/**
 * Asks for a secret on standard error and reads it from the terminal without echo. Throws `noTerminal()` when
 * standard input is not a terminal (a script, CI): such callers give the secret through the environment instead.
 */
export async function readSecret(prompt: string, noTerminal: () => Error): Promise<string> {
  if (!process.stdin.isTTY) throw noTerminal();
  let muted = false;
  const output = new Writable({
    write(chunk, _encoding, callback) {
      if (!muted) process.stderr.write(chunk);
      callback();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  const answer = new Promise<string>((resolve) => rl.question(prompt, resolve));
  muted = true;
  const secret = await answer;
  rl.close();
  process.stderr.write('\n');
  return secret;
}
