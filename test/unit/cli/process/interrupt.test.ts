// Ctrl-C and SIGTERM as a process meets them (cli/process/interrupt.ts): a graceful command whose work does not
// finish within the grace period, or that gets a second signal, is cut short, and still says its last words (an
// import's summary) before it exits 130 / 143. Each case is its own node process with the real signal handlers.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../../..');

/**
 * A command that handles interruption gracefully and never finishes (work stuck on a stalled service): it prints
 * `working` once its handlers are in place, `stopping` when the first signal aborts its work, its last words when
 * cut short, `cleaned up` from its clean-up.
 */
function stuckCommand(graceMs: number) {
  const script = `
    import {
      addCleanup,
      handleInterruptionGracefully,
      installInterruptHandlers,
      interruption,
    } from './cli/process/interrupt.ts';
    installInterruptHandlers(${graceMs});
    handleInterruptionGracefully(() => process.stdout.write('summary so far\\n'));
    addCleanup(() => process.stdout.write('cleaned up\\n'));
    interruption.addEventListener('abort', () => process.stdout.write('stopping\\n'));
    setInterval(() => {}, 1000);
    process.stdout.write('working\\n');
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  const waiters = new Set<() => void>();
  child.stdout.on('data', (d: Buffer) => {
    output += d;
    for (const check of waiters) check();
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  /** Resolves once the output holds `text`; rejects if the process exits first. */
  const said = (text: string) =>
    new Promise<void>((done, fail) => {
      const check = () => {
        if (output.includes(text)) done();
      };
      waiters.add(check);
      check();
      void exited.then(() => fail(new Error(`exited before "${text}": ${output}`)));
    });
  return { child, exited, said, output: () => output };
}

describe('a graceful command cut short', () => {
  it('when the grace period runs out: its last words, then its clean-ups, then exit 130', async () => {
    const command = stuckCommand(300);
    await command.said('working');
    const signalled = Date.now();
    command.child.kill('SIGINT');
    expect(await command.exited).toBe(130);
    expect(Date.now() - signalled).toBeGreaterThanOrEqual(300);
    expect(command.output()).toBe('working\nstopping\nsummary so far\ncleaned up\n');
  });

  it('by a second signal: its last words at once, no clean-up, exit 143 for SIGTERM', async () => {
    // A grace period no test waits for: only the second signal can end the process.
    const command = stuckCommand(600_000);
    await command.said('working');
    command.child.kill('SIGTERM');
    // Two signals sent back to back can arrive as one: the second goes once the first was handled.
    await command.said('stopping');
    command.child.kill('SIGTERM');
    expect(await command.exited).toBe(143);
    expect(command.output()).toBe('working\nstopping\nsummary so far\n');
  });
});
