// The daemon's HTTP endpoint: health and the live counters as JSON.
import { createServer, type Server } from 'node:http';
import type { CounterSnapshot } from './counter-snapshot.js';

export interface EndpointState {
  /** undefined until the datapath runs. */
  counters(): CounterSnapshot | undefined;
  /** Why the daemon is not ready, or undefined when it is. */
  notReady(): string | undefined;
}

export function startHttpServer(host: string, port: number, state: EndpointState): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const why = state.notReady();
      res.writeHead(why ? 503 : 200, { 'content-type': 'text/plain' }).end(why ? `not ready: ${why}\n` : 'ok\n');
    } else if (path === '/debug/counters') {
      const counters = state.counters();
      if (counters) res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(counters));
      else res.writeHead(503, { 'content-type': 'text/plain' }).end('the datapath is not running yet\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /healthz, /readyz or /debug/counters\n');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
