// Ctrl-C and SIGTERM: every command leaves nothing behind. Commands that can stop cleanly mid-way (export,
// ingest, serve, start) watch `interruption` and unwind themselves (a summary, a removed partial file); every
// other command has its registered clean-ups run and exits at once. Either way the exit code is 128 + the
// signal's number (130 for SIGINT, 143 for SIGTERM), as shells report it. A second signal exits immediately,
// and so does a graceful command whose grace period runs out: it is cut short, and says what it can first.
import { ExitCode } from './output';

/** Thrown (as the abort reason) into work that an interruption stopped. */
export class InterruptedError extends Error {
  override name = 'InterruptedError';
  constructor(readonly signal: 'SIGINT' | 'SIGTERM') {
    super(`interrupted by ${signal}`);
  }
}

type Cleanup = () => unknown;

const controller = new AbortController();
/** Aborted (with an InterruptedError) on the first SIGINT or SIGTERM. */
export const interruption: AbortSignal = controller.signal;
const cleanups = new Set<Cleanup>();
let graceful = false;
let installed = false;

/** Registers something to undo on interruption (a temp directory, a child process); returns its removal. */
export function addCleanup(cleanup: Cleanup): () => void {
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

/** Runs every registered clean-up once, newest first; failures are ignored (best effort on the way out). */
export async function runCleanups(): Promise<void> {
  const pending = [...cleanups].reverse();
  cleanups.clear();
  for (const cleanup of pending) {
    try {
      await cleanup();
    } catch {
      // on the way out: nothing better to do
    }
  }
}

let signalIsStop = false;
/** What the graceful command says when it is cut short (its summary so far). */
let lastWords: (() => void) | undefined;

/** How long a graceful command may take to unwind after the first signal, in milliseconds. */
export const INTERRUPT_GRACE_MS = 15_000;

/**
 * The current command stops by itself when `interruption` aborts (it will print its own summary). When it is cut
 * short before it gets there (the grace period ran out, or a second signal came), `cutShort` runs first, before
 * the clean-ups and the exit: what the command can say of the work done so far (it must write synchronously).
 */
export function handleInterruptionGracefully(cutShort?: () => void): void {
  graceful = true;
  lastWords = cutShort;
}

/** Runs the graceful command's last words, once. */
function sayLastWords(): void {
  const words = lastWords;
  lastWords = undefined;
  try {
    words?.();
  } catch {
    // on the way out: nothing better to do
  }
}

/** For servers (`start`, `serve`): a signal is how they are meant to end, so their exit code stays 0. */
export function signalIsNormalStop(): void {
  graceful = true;
  signalIsStop = true;
}

/** The exit code an interruption calls for: 130/143, or undefined when none happened or it was a normal stop. */
export function interruptExitCode(): number | undefined {
  const signal = interruptedBy();
  return signal && !signalIsStop ? exitCodeFor(signal) : undefined;
}

export function exitCodeFor(signal: 'SIGINT' | 'SIGTERM'): number {
  return signal === 'SIGINT' ? ExitCode.interrupted : ExitCode.terminated;
}

/** The signal that interrupted this run, if one did. */
export function interruptedBy(): 'SIGINT' | 'SIGTERM' | undefined {
  const reason = interruption.reason;
  return interruption.aborted && reason instanceof InterruptedError ? reason.signal : undefined;
}

/**
 * Installs the SIGINT and SIGTERM handlers (once, at start-up). A graceful command gets `graceMs` to unwind
 * before it is cut short: its last words, the clean-ups, and the exit. A second signal cuts it short at once
 * (last words, no clean-ups).
 */
export function installInterruptHandlers(graceMs = INTERRUPT_GRACE_MS): void {
  if (installed) return;
  installed = true;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      const code = signalIsStop ? ExitCode.ok : exitCodeFor(signal);
      if (interruption.aborted) {
        sayLastWords();
        process.exit(code);
      }
      controller.abort(new InterruptedError(signal));
      const exit = async () => {
        sayLastWords();
        await runCleanups();
        process.exit(code);
      };
      if (!graceful) void exit();
      else setTimeout(exit, graceMs).unref();
    });
  }
}
