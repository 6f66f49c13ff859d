import { connect, type ConnectionOptions } from 'node:tls';

export interface Handshake {
  reused: boolean;
  /** The session to resume with next (a full handshake waits for the server's ticket; a resumed one needs none). */
  session: Buffer | undefined;
  /** TLS 1.2: the ticket's key name (its first 16 bytes, hex). */
  keyName: string | undefined;
}

/** One TLS handshake with 127.0.0.1:port (resuming `opts.session` if given); it waits for the server's ticket. */
export function handshake(port: number, ca: string, opts: ConnectionOptions = {}): Promise<Handshake> {
  return new Promise<Handshake>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'a.example', ...opts });
    const done = (session: Buffer | undefined) => {
      const ticket = socket.getTLSTicket();
      resolve({ reused: socket.isSessionReused(), session, keyName: ticket && ticket.length >= 16 ? ticket.subarray(0, 16).toString('hex') : undefined });
      socket.destroy();
    };
    socket.once('session', done);
    // A resumed TLS 1.2 session gets no new ticket.
    socket.once('secureConnect', () => socket.isSessionReused() && done(undefined));
    socket.on('error', reject);
    socket.setTimeout(5000, () => reject(new Error('no ticket within 5 s')));
  });
}
