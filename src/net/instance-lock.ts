// One daemon per device per network namespace. The lock is an abstract Unix socket: scoped to
// the network namespace, and released by the kernel when the process dies, even by kill -9.
import { createServer, type Server } from 'node:net';
import { ConfigError } from '../config-error.js';

export async function lockDevice(device: string): Promise<Server> {
  const server = createServer((conn) => conn.end(`${process.pid}\n`));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path: `\0vxroute/${device}` }, resolve);
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new ConfigError('--iface', `another vxroute is already running on ${device} in this network namespace; stop it first or pick another --iface`, { cause: err });
    }
    throw err;
  }
  server.unref();
  return server;
}
