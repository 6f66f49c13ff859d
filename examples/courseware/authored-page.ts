// An author's page as the course shows it. Any user may publish, so a page is another party's
// content: it is read only up to a size the course shows, cut to its <body> by a scan linear in
// its length, and shown in a sandboxed frame (its own opaque origin, no scripts, no forms, no
// loads from anywhere), never inlined in the app's pages, where its scripts would act as the learner.
import { open } from 'node:fs/promises';
import { esc } from './problems.ts';

/** The largest page the course shows, edits, or takes from the authoring form. */
export const MAX_PAGE_BYTES = 64 * 1024;

/** A page past MAX_PAGE_BYTES: the course says so rather than read it all. */
export class PageTooLargeError extends Error {
  readonly code = 'page_too_large';
  constructor(limit: number) {
    super(`the page is larger than the ${limit / 1024} KiB the course shows`);
  }
}

/** The page's text; reads at most `limit` + 1 bytes of the file, and throws PageTooLargeError past `limit`. */
export async function readAuthoredPage(path: string, limit = MAX_PAGE_BYTES): Promise<string> {
  const file = await open(path, 'r');
  try {
    const buf = Buffer.alloc(limit + 1);
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await file.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    if (got > limit) throw new PageTooLargeError(limit);
    return buf.toString('utf8', 0, got);
  } finally {
    await file.close();
  }
}

/** Where `<tag` starts at or after `from`, in any letter case, as a whole tag name (`<body>`, `<BODY class=x>`, not `<bodyx>`); -1 if nowhere. */
function tagAt(html: string, tag: string, from: number): number {
  // No quantifier: each position is tried against a fixed text, so the search is linear.
  const re = new RegExp(`${tag}(?=[\\s/>])`, 'gi');
  re.lastIndex = from;
  return re.exec(html)?.index ?? -1;
}

/** The <body> of a page: from its first <body ...> to the next </body> (or the end); the whole text when it has none. */
export function bodyOf(html: string): string {
  const open = tagAt(html, '<body', 0);
  const start = open < 0 ? -1 : html.indexOf('>', open);
  if (start < 0) return html.trim();
  const end = tagAt(html, '</body', start + 1);
  return html.slice(start + 1, end < 0 ? html.length : end).trim();
}

/**
 * What the frame allows its page: nothing loaded from anywhere (images only as data: URLs), its
 * own inline styles. The frame's sandbox (no allow-scripts, no allow-same-origin) already stops
 * scripts; the policy also stops loads that need none (<img src>, CSS url()) from telling anyone
 * who reads the page.
 */
const FRAME_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/** The body of a page in a sandboxed frame (srcdoc: the version the app read, escaped once as an attribute). */
export function sandboxedFrame(title: string, body: string): string {
  const doc = `<!doctype html><html><head><meta http-equiv="Content-Security-Policy" content="${FRAME_POLICY}"></head><body>${body}</body></html>`;
  return `<iframe class="problem" title="${esc(title)}" sandbox srcdoc="${esc(doc)}" style="width:100%;height:24em;border:1px solid #ccc"></iframe>`;
}
