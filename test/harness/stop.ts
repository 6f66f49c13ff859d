// Stopping a child process the one way every test and benchmark does it: a signal (SIGTERM by
// default), SIGKILL if it is still there after forceAfterMs, resolved once it has exited.
import type { ChildProcess } from 'node:child_process';

/** Has it not exited yet? */
export function alive(proc: ChildProcess): boolean {
  return proc.exitCode === null && proc.signalCode === null;
}

/**
 * Sends `signal` and resolves when the process has exited; one that ignores it is killed with
 * SIGKILL after forceAfterMs (a process that does not stop is a bug its log should show, not a hang).
 */
export function stopProcess(proc: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM', forceAfterMs = 5000): Promise<void> {
  if (!proc || !alive(proc)) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => proc.kill('SIGKILL'), forceAfterMs);
    proc.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    proc.kill(signal);
  });
}
