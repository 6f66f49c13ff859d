import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const CLI_PATH = fileURLToPath(new URL('../cli/main.ts', import.meta.url));

/**
 * Starts `cohort node` as its own process with the same Node binary, its JSON log
 * appended to logFile. Used by the demo and by the cluster tests.
 */
export function spawnNodeProcess(config: string, id: string, logFile: string, extraArgs: string[] = [], env: Record<string, string> = {}): ChildProcess {
  return spawnLogged([CLI_PATH, 'node', '--config', config, '--id', id, ...extraArgs], logFile, env);
}

/** Runs a script with this process's Node binary, its stdout and stderr appended to logFile. */
export function spawnLogged(args: string[], logFile: string, env: Record<string, string> = {}): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    return spawn(process.execPath, args, { stdio: ['ignore', fd, fd], env: { ...process.env, NODE_NO_WARNINGS: '1', ...env } });
  } finally {
    closeSync(fd);
  }
}
