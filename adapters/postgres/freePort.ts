/** Ask the OS for a TCP port nobody listens on right now. */
import { createServer } from 'node:net';

/**
 * Bind port 0 on the loopback interface and release it. Another process could take the
 * port before the caller binds it, so callers that can should retry on "address in use".
 */
export function findFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error(`could not read the port the OS assigned: ${String(address)}`));
      });
    });
  });
}
