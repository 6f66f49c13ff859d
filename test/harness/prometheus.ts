import assert from 'node:assert/strict';

/** One sample of a Prometheus text exposition: name, labels, value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
// prom-client writes NaN as "Nan"; Prometheus reads floats as Go's ParseFloat does (NaN and Inf in any case).
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.eE+-]+|[nN][aA][nN]|[+-][iI][nN][fF])$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/**
 * Parses the Prometheus text format (0.0.4) strictly enough for a test: every line is a
 * HELP or TYPE comment or a sample, every sample's family has a TYPE, no sample repeats.
 * (prom-client has no parser of its own.)
 */
export function parseExposition(text: string): Sample[] {
  const types = new Map<string, string>();
  const seen = new Set<string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const comment = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (comment) {
      assert.match(comment[2], NAME, line);
      if (comment[1] === 'TYPE') {
        assert.match(comment[3], /^(counter|gauge|histogram|summary|untyped)$/, line);
        types.set(comment[2], comment[3]);
      }
      continue;
    }
    const m = SAMPLE.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]] = l[2];
    const family = types.has(m[1]) ? m[1] : m[1].replace(/_(bucket|sum|count|total|created)$/, '');
    assert.ok(types.has(family) || types.has(m[1]), `no TYPE for ${m[1]}`);
    assert.ok(!seen.has(`${m[1]}${m[2] ?? ''}`), `repeated sample: ${line}`);
    seen.add(`${m[1]}${m[2] ?? ''}`);
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

/** The value of the one sample with this name and (at least) these labels; undefined if none. */
export function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(found.length <= 1, `${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  return found[0]?.value;
}
