import { fieldValues, listValues } from './hop-by-hop.ts';
import { webSocketAccept } from './websocket-handshake.ts';

/**
 * Whether a back-end's 101 answers the upgrade the front asked for (RFC 9110 §7.8, §15.2.2;
 * RFC 6455 §4.1): an Upgrade naming one protocol the request offered, Connection: upgrade,
 * and for a WebSocket the Sec-WebSocket-Accept of the client's own key. Returns the
 * protocol switched to, or why the 101 is refused (502).
 */
export function checkSwitch(offered: string, clientKey: string | undefined, headers: string[], lowerNames: string[]): { protocol: string } | { fault: string } {
  const upgrade = listValues(headers, lowerNames, 'upgrade');
  if (upgrade.length !== 1) return { fault: `a 101 must name one protocol in Upgrade (got ${upgrade.length})` };
  const protocol = upgrade[0];
  const name = protocol.split('/')[0];
  if (!offered.split(', ').some((p) => p.split('/')[0] === name)) {
    return { fault: `a 101 switched to '${protocol.slice(0, 40)}', which the request did not offer` };
  }
  if (!listValues(headers, lowerNames, 'connection').includes('upgrade')) return { fault: 'a 101 without Connection: upgrade' };
  if (name === 'websocket') {
    const accepts = fieldValues(headers, lowerNames, 'sec-websocket-accept');
    if (clientKey === undefined || accepts.length !== 1 || accepts[0].trim() !== webSocketAccept(clientKey)) {
      return { fault: 'a WebSocket 101 whose Sec-WebSocket-Accept does not answer the client\'s key' };
    }
  }
  return { protocol };
}
