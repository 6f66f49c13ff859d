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
    const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: this.cookieHeader() }, signal: AbortSignal.timeout(15_000) });
    this.take(res);
    return { status: res.status, location: res.headers.get('location'), text: await res.text(), headers: res.headers };
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
