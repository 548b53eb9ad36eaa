// A free TCP port on 127.0.0.1 for a server a benchmark starts in a process of its own.
import net from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    }).on('error', reject);
  });
}
