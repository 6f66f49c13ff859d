import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CohortClient } from '../client/client.ts';
import type { HostTable } from '../config/host-table.ts';

/** The demo's user: she logs in at the front, and she is the author of the demo's pages. */
export const DEMO_USER = { domain: 'msu', user: 'ann', home: 'A', password: 'demo-password' };

/** A second learner, of the other domain (home E): his submissions are kept on E, apart from ann's on A. */
export const DEMO_LEARNER = { domain: 'rice', user: 'bob', home: 'E', password: 'demo-password' };

/** Every user the demo makes. */
export const DEMO_USERS = [DEMO_USER, DEMO_LEARNER];

/** The demo's published page: ann's, on her home A; any node serves it, copying it on first access. */
export const DEMO_RESOURCE = `/res/${DEMO_USER.domain}/${DEMO_USER.user}/welcome.html`;

/** The courseware app's problem (examples/courseware/): ann's too, read by the app through client.resources. */
export const DEMO_PROBLEM = `/res/${DEMO_USER.domain}/${DEMO_USER.user}/physics/problem1.html`;

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>Welcome</title></head>
<body><h1>Welcome to the course</h1>
<p>Published by ann on her home node A. Every node serves it: the first request on a node copies it
from A, later ones read the copy, and a new version reaches every copy that is read.</p></body></html>
`;

const PROBLEM = `<!doctype html>
<html><head><meta charset="utf-8"><title>Problem 1: free fall</title></head>
<body><h2>Problem 1: free fall</h2>
<p>A stone is dropped from rest near the Earth's surface. Ignoring air resistance, what is the
magnitude of its acceleration, in m/s²? Give one decimal.</p></body></html>
`;

const PAGES = [
  { url: DEMO_RESOURCE, file: 'welcome.html', text: PAGE },
  { url: DEMO_PROBLEM, file: 'problem1.html', text: PROBLEM },
];

/** Publishes the demo's pages unless they exist already (the folder reused); returns a line for each, for the demo's output. */
export async function ensureDemoResources(table: HostTable, dir: string): Promise<string[]> {
  const lines: string[] = [];
  let client: CohortClient | undefined;
  try {
    client = await CohortClient.forNode(table, DEMO_USER.home, { timeoutMs: 10_000 });
    for (const p of PAGES) lines.push(await ensurePage(client, dir, p));
  } catch (err) {
    lines.push(`could not reach ${DEMO_USER.home} to publish the demo's pages: ${(err as Error).message}`);
  } finally {
    client?.close();
  }
  return lines;
}

async function ensurePage(client: CohortClient, dir: string, p: { url: string; file: string; text: string }): Promise<string> {
  try {
    try {
      const meta = await client.resources.meta(p.url);
      return `${p.url} is published (version ${meta.version})`;
    } catch (err) {
      if ((err as { code?: string }).code !== 'not_found') throw err;
    }
    const file = join(dir, p.file);
    writeFileSync(file, p.text);
    await client.call(DEMO_USER.home, 'res.publish', { url: p.url, file });
    return `${p.url} published by ${DEMO_USER.user} on ${DEMO_USER.home}`;
  } catch (err) {
    return `could not publish ${p.url}: ${(err as Error).message}`;
  }
}
