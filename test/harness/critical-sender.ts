// A local app process for the chaos test: connects to its node's socket and sends
// critical journal.append messages to random peers, one at a time, recording each
// attempt before it is made and each outcome after, so the test can tell what was
// sent, what was accepted (ok / delayed) and what was not. Survives its node's death:
// a failed call is recorded and the process reconnects.
import { appendFileSync, existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CohortClient } from '../../src/client/client.ts';
import { CohortError } from '../../src/errors.ts';
import { pick, seededRandom } from './random.ts';

const { values } = parseArgs({
  options: {
    socket: { type: 'string' },
    worker: { type: 'string' },
    targets: { type: 'string' },
    out: { type: 'string' },
    seed: { type: 'string' },
    interval: { type: 'string', default: '20' },
    stop: { type: 'string' },
    min: { type: 'string', default: '0' },
  },
});
const targets = values.targets!.split(',');
const random = seededRandom(Number(values.seed));
const interval = Number(values.interval);
const min = Number(values.min);
const record = (line: object) => appendFileSync(values.out!, JSON.stringify(line) + '\n');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let client: CohortClient | undefined;
let n = 0;
while (!(existsSync(values.stop!) && n >= min)) {
  if (!client || client.closed) {
    try {
      client = await CohortClient.connect(values.socket!, { timeoutMs: 20_000 });
    } catch {
      client = undefined;
      await sleep(50);
      continue;
    }
  }
  const to = pick(random, targets);
  n++;
  record({ n, to, t: 'attempt' });
  try {
    const result = await client.critical(to, 'journal.append', { stream: 'chaos', entry: { w: values.worker, n } });
    record({ n, to, t: result.status });
  } catch (err) {
    record({ n, to, t: 'failed', code: err instanceof CohortError ? err.code : String(err) });
    if (err instanceof CohortError && err.code === 'con_lost') {
      client.close();
      client = undefined;
    }
  }
  await sleep(interval);
}
client?.close();
