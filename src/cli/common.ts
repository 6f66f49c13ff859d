import { InvalidArgumentError, Option } from 'commander';
import { ConfigError, findNode, loadHostTable, type HostTable } from '../config/host-table.ts';
import { errorText } from '../errors.ts';
import { CohortClient } from '../client/client.ts';

// Exit codes: 0 success, 1 the network answered with an error (its code on stderr),
// 2 bad usage or bad configuration (nothing was done).
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

export const configOption = () =>
  new Option('-c, --config <file>', 'host table (YAML)').env('COHORT_CONFIG').default('cohort.yaml');
export const fromOption = () =>
  new Option('-f, --from <node>', 'the node whose local socket to use (this machine\'s node)').env('COHORT_NODE').makeOptionMandatory();

/** A failure the CLI reports on stderr with an exit code, without a stack trace. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

export async function withClient<T>(opts: { config: string; from: string }, fn: (client: CohortClient, table: HostTable) => Promise<T>): Promise<T> {
  const table = loadHostTable(opts.config);
  findNode(table, opts.from);
  const client = await CohortClient.forNode(table, opts.from);
  try {
    return await fn(client, table);
  } finally {
    client.close();
  }
}

export function parseArgsJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CliError(`ARGS_JSON is not valid JSON: ${(err as Error).message}`, EXIT_USAGE);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new CliError('ARGS_JSON must be a JSON object, e.g. \'{"key":"value"}\'', EXIT_USAGE);
  return value;
}

/** Prints an error the way every cohort command does, and returns the exit code. */
export function reportError(err: unknown): number {
  if (err instanceof CliError) {
    process.stderr.write(`cohort: ${err.message}\n`);
    return err.exitCode;
  }
  if (err instanceof ConfigError) {
    process.stderr.write(`cohort: ${err.message}\n`);
    return EXIT_USAGE;
  }
  process.stderr.write(`cohort: ${errorText(err)}\n`);
  return EXIT_ERROR;
}

export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** A demo cluster's first port (`--base-port`): it and the ports above it (up to +2001) must fit below 65536. */
export function demoBasePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1024 || n > 63_000) throw new InvalidArgumentError('must be a whole number from 1024 to 63000');
  return n;
}
