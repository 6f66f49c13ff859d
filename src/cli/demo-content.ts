import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CohortClient } from '../client/client.ts';
import type { HostTable } from '../config/host-table.ts';

/** The demo's user: she logs in at the front, and she is the author of the demo's page. */
export const DEMO_USER = { domain: 'msu', user: 'ann', home: 'A', password: 'demo-password' };

/** The demo's published page: ann's, on her home A; any node serves it, copying it on first access. */
export const DEMO_RESOURCE = `/res/${DEMO_USER.domain}/${DEMO_USER.user}/welcome.html`;

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>Welcome</title></head>
<body><h1>Welcome to the course</h1>
<p>Published by ann on her home node A. Every node serves it: the first request on a node copies it
from A, later ones read the copy, and a new version reaches every copy that is read.</p></body></html>
`;

/** Publishes the demo page unless it exists already (the folder reused); returns a line for the demo's output. */
export async function ensureDemoResource(table: HostTable, dir: string): Promise<string> {
  let client: CohortClient | undefined;
  try {
    client = await CohortClient.forNode(table, DEMO_USER.home, { timeoutMs: 10_000 });
    try {
      const meta = await client.resources.meta(DEMO_RESOURCE);
      return `${DEMO_RESOURCE} is published (version ${meta.version})`;
    } catch (err) {
      if ((err as { code?: string }).code !== 'not_found') throw err;
    }
    const file = join(dir, 'welcome.html');
    writeFileSync(file, PAGE);
    await client.call(DEMO_USER.home, 'res.publish', { url: DEMO_RESOURCE, file });
    return `${DEMO_RESOURCE} published by ${DEMO_USER.user} on ${DEMO_USER.home}`;
  } catch (err) {
    return `could not publish ${DEMO_RESOURCE}: ${(err as Error).message}`;
  } finally {
    client?.close();
  }
}
