// A test back-end (test/harness/backend-server.ts, which stamps its name on every answer) as its
// own process: the one way tests start one.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BACKEND = fileURLToPath(new URL('./backend-server.ts', import.meta.url));

/** Starts back-end `name` on `port`; resolves once it says it listens. */
export async function startBackendProcess(name: string, port: number, args: string[] = []): Promise<ChildProcess> {
  const proc = spawn(process.execPath, [BACKEND, '--name', name, '--port', String(port), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    proc.stdout!.once('data', () => resolve());
    proc.once('exit', (code) => reject(new Error(`back-end ${name} exited (${code})`)));
  });
  return proc;
}
