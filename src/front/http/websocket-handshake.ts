import { createHash } from 'node:crypto';

// The opening handshake of RFC 6455 §4, checked at the front both ways, so that a back-end
// never sees a handshake a browser could not have sent, and a client never gets a 101 that
// does not answer its own key.

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** A base64 nonce of 16 bytes (§4.1: 24 characters, ending in "=="). */
const KEY = /^[A-Za-z0-9+/]{21}[AQgw]==$/;

export type HandshakeFault = { status: 400; error: string } | { status: 426; error: string; headers: string[] };

/** The client's side of the handshake (§4.2.1), given its method and the values of its key and version fields. */
export function checkWebSocketRequest(method: string, keys: string[], versions: string[]): HandshakeFault | undefined {
  if (method !== 'GET') return { status: 400, error: 'a WebSocket handshake is a GET request' };
  if (keys.length !== 1 || !KEY.test(keys[0].trim())) return { status: 400, error: 'a WebSocket handshake needs one Sec-WebSocket-Key of 16 bytes in base64' };
  if (versions.length !== 1 || versions[0].trim() !== '13') {
    return { status: 426, error: 'WebSocket version 13 is the only one supported', headers: ['sec-websocket-version', '13'] };
  }
  return undefined;
}

/** The Sec-WebSocket-Accept a server must answer `key` with (§4.2.2). */
export function webSocketAccept(key: string): string {
  return createHash('sha1').update(key.trim() + GUID).digest('base64');
}
