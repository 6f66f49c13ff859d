/** One answer as a browser sees it before following a redirect. */
export interface Page {
  status: number;
  location: string | null;
  text: string;
  headers: Headers;
}

/**
 * A learner's browser, reduced to what a scripted visit needs: a cookie jar (name → value, from
 * each answer's Set-Cookie) and requests that do not follow redirects, so each hop can be checked.
 */
export class Browser {
  readonly cookies = new Map<string, string>();

  async get(url: string): Promise<Page> {
    return this.request(url, {});
  }

  /** A form post (application/x-www-form-urlencoded). */
  async post(url: string, form: Record<string, string>): Promise<Page> {
    return this.request(url, { method: 'POST', body: new URLSearchParams(form) });
  }

  async request(url: string, init: RequestInit): Promise<Page> {
    const { res, text } = await this.send(url, init);
    return { status: res.status, location: res.headers.get('location'), text, headers: res.headers };
  }

  /** One request with the jar's cookies (redirects not followed, 15 s at most); the jar takes the answer's. */
  async send(url: string, init: RequestInit = {}): Promise<{ res: Response; text: string }> {
    const res = await fetch(url, { signal: AbortSignal.timeout(15_000), ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: this.cookieHeader() } });
    this.take(res);
    return { res, text: await res.text() };
  }

  take(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq > 0) this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
  }

  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}
