import { connect, type Socket } from 'node:net';
import type { Backend } from './backend.ts';
import type { ClientExchange } from './http/client-exchange.ts';

/**
 * An upgrade (WebSocket) is passed through as a byte tunnel: the request head (less the
 * sticky cookie) goes to
 * the back-end, and from then on bytes flow both ways untouched until either side
 * closes, which closes the other.
 */
export function tunnel(ex: ClientExchange, client: Socket, head: Buffer, backend: Backend, target: string, cookieRest: string | undefined, connectMs: number, onEnd: () => void): void {
  const upstream: Socket = connect({ host: backend.host, port: backend.port, noDelay: true });
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    client.destroy();
    upstream.destroy();
    onEnd();
  };
  const timer = setTimeout(end, connectMs);
  upstream.once('connect', () => {
    clearTimeout(timer);
    const raw = ex.rawHeaders;
    let text = `${ex.method} ${target} HTTP/1.1\r\n`;
    let forwardedFor = '';
    for (let i = 0; i < raw.length; i += 2) {
      const lower = ex.lowerNames[i >> 1];
      if (lower === 'x-forwarded-for') forwardedFor = raw[i + 1];
      else if (lower === 'cookie' && cookieRest !== undefined) {
        if (cookieRest) text += `cookie: ${cookieRest}\r\n`; // the sticky cookie stays with the front
      } else text += `${raw[i]}: ${raw[i + 1]}\r\n`;
    }
    text += `x-forwarded-for: ${forwardedFor ? `${forwardedFor}, ` : ''}${ex.clientIp}\r\n\r\n`;
    upstream.write(text, 'latin1');
    if (head.length) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  });
  upstream.on('error', end);
  upstream.on('close', end);
  client.on('error', end);
  client.on('close', end);
}
