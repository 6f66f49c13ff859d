import type { ListenOptions, Server } from 'node:net';

/** Starts a server (net, tls or http) listening; resolves once it is, rejects with the bind error. */
export function listenOn(server: Server, options: ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
