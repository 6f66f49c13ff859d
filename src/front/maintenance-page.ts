// The page a front answers new sessions with while the cluster is in maintenance mode.
// RFC 9110 §15.6.4: 503 means the server is temporarily unable to handle the request and
// may say with Retry-After (§10.2.3, delay-seconds) when to try again; crawlers treat a
// 503 as "come back later" rather than a page to index. The same as nginx's
// `return 503` + `error_page 503 /maintenance.html` + `add_header Retry-After ... always`.

export const MAINTENANCE_STATUS = 503;
/** Seconds a client is told to wait before it tries again. */
const DEFAULT_RETRY_AFTER_S = 120;
const DEFAULT_MESSAGE = 'This site is down for maintenance and will be back shortly.';

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text made safe for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/**
 * A small self-contained page (no scripts, no outside resources) showing the operator's
 * message as plain text: it is escaped, never markup, and its line breaks are kept by CSS.
 */
export function maintenancePage(message: string): Buffer {
  const text = escapeHtml(message.trim() || DEFAULT_MESSAGE);
  return Buffer.from(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Down for maintenance</title>
<style>
body { font-family: system-ui, sans-serif; margin: 0; min-height: 100vh; display: flex; align-items: center; justify-content: center; background: #f5f5f4; color: #1c1917; }
main { max-width: 36rem; padding: 2rem; }
h1 { font-size: 1.5rem; margin: 0 0 1rem; }
p { white-space: pre-line; line-height: 1.5; margin: 0; }
</style>
</head>
<body>
<main>
<h1>Down for maintenance</h1>
<p>${text}</p>
</main>
</body>
</html>
`);
}

/**
 * The response headers for the page, as the front's flat [name, value, ...] list
 * (content-length is added by whoever writes the body).
 */
export function maintenanceHeaders(retryAfterSeconds = DEFAULT_RETRY_AFTER_S): string[] {
  const seconds = Number.isFinite(retryAfterSeconds) ? Math.max(0, Math.round(retryAfterSeconds)) : DEFAULT_RETRY_AFTER_S;
  return ['content-type', 'text/html; charset=utf-8', 'retry-after', String(seconds), 'cache-control', 'no-store'];
}

/** The page and headers for the current message, made again only when the message or Retry-After changes. */
export class MaintenancePages {
  private last: { message: string; retryAfterS: number; headers: string[]; body: string } | undefined;

  get(message: string, retryAfterS: number): { headers: string[]; body: string } {
    const c = this.last;
    if (c && c.message === message && c.retryAfterS === retryAfterS) return c;
    this.last = { message, retryAfterS, headers: maintenanceHeaders(retryAfterS), body: maintenancePage(message).toString() };
    return this.last;
  }
}
