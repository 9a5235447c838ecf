// The daemon's HTTP endpoint: health, Prometheus metrics, and the debugging views that
// `vxroute top` and `vxroute trace` read. The debugging views show pod flow headers, so they
// answer only connections made to a loopback address unless --expose-debug says otherwise.
import { BlockList } from 'node:net';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { Counter } from 'prom-client';
import type { PolicySourceStatus } from '../policy/kube-policy-source.js';
import { debugPeersJson } from './debug-peers.js';
import type { DaemonView } from './datapath-view.js';
import { registerPolicySourceMetrics } from './policy-source-metrics.js';
import { registerPodVxlanMetric } from './pod-vxlan-metric.js';
import { PrometheusMetrics } from './prometheus.js';
import { streamTrace } from './trace-stream.js';

const ROUTES = '/healthz, /readyz, /metrics, /debug/counters, /debug/peers, /debug/trace, /debug/fdb';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4'); // also matches ::ffff:127.x.y.z, a dual-stack socket's view
LOOPBACK.addAddress('::1', 'ipv6');

export interface HttpServerOptions {
  /** Labels of vxroute_info. */
  info?: Record<string, string>;
  /** Serve /debug/* to connections on every address, not only loopback ones (--expose-debug). */
  exposeDebug?: boolean;
  log?: Logger;
  /** The policy source's state, when the daemon follows NetworkPolicy. */
  policy?: () => PolicySourceStatus;
}

/** One handler, listening on every address given; resolves once all of them listen. */
export async function startHttpServer(addresses: { host: string; port: number }[], daemon: DaemonView, opts: HttpServerOptions = {}): Promise<Server[]> {
  const metrics = new PrometheusMetrics(
    { counters: () => daemon.datapath()?.counters(false), peerRows: () => daemon.datapath()?.peerRows(), notReady: () => daemon.notReady(), tableNodes: () => daemon.datapath()?.table.nodes.length },
    opts.info ?? {},
  );
  if (opts.policy) registerPolicySourceMetrics(metrics.registry, opts.policy);
  registerPodVxlanMetric(metrics.registry);
  const readersCut = new Counter({
    name: 'vxroute_trace_readers_cut_total',
    help: 'Trace readers cut off because they did not take the stream as fast as it came (their backlog passed its bound).',
    registers: [metrics.registry],
  });
  const onSlowReader = (backlog: number, sent: number): void => {
    readersCut.inc();
    opts.log?.warn({ backlog, sent }, 'trace reader too slow: its backlog passed its bound, stream cut off');
  };
  const json = (res: ServerResponse, body: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://vxroute');
    const datapath = daemon.datapath();
    if (url.pathname === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (url.pathname === '/readyz') {
      const why = daemon.notReady();
      res.writeHead(why ? 503 : 200, { 'content-type': 'text/plain' }).end(why ? `not ready: ${why}\n` : 'ok\n');
    } else if (url.pathname === '/metrics') {
      metrics.scrapePieces().then(
        (pieces) => stream(res, pieces, metrics.contentType).catch(() => res.destroy()), // a piece that fails after the header: cut the answer
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
      );
    } else if (!url.pathname.startsWith('/debug/')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: try ${ROUTES}\n`);
    } else if (!opts.exposeDebug && !isLoopback(req.socket.localAddress)) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end(
        `${url.pathname} is served on loopback addresses only (127.0.0.1 or ::1 on the node, or through kubectl port-forward); ` +
          `start vxroute run with --expose-debug to serve /debug/* on ${req.socket.localAddress} too\n`,
      );
    } else if (!datapath) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('the datapath is not running yet\n');
    } else if (url.pathname === '/debug/counters') {
      json(res, datapath.counters());
    } else if (url.pathname === '/debug/peers') {
      void stream(res, debugPeersJson(daemon.nodeName, datapath), 'application/json');
    } else if (url.pathname === '/debug/fdb') {
      const entries = datapath.fdbRows();
      if (!entries) res.writeHead(404, { 'content-type': 'text/plain' }).end('no forwarding database: this daemon runs in router mode (--mode switch has one)\n');
      else json(res, { at: new Date().toISOString(), ...datapath.counters().switch!.fdb, entries, neighbours: datapath.neighbourRows() });
    } else if (url.pathname === '/debug/trace') {
      streamTrace(datapath, url, res, onSlowReader);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: try ${ROUTES}\n`);
    }
  };
  const servers: Server[] = [];
  try {
    for (const { host, port } of addresses) {
      const server = createServer(handler);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      servers.push(server);
    }
  } catch (err) {
    for (const s of servers) s.close();
    throw err;
  }
  return servers;
}

/** Whether a connection was made to a loopback address: only the node itself reaches those. */
function isLoopback(localAddress: string | undefined): boolean {
  if (localAddress === undefined) return false;
  return LOOPBACK.check(localAddress, localAddress.includes(':') ? 'ipv6' : 'ipv4');
}

/** Writes `chunks` as one answer, each after the socket took the one before; stops if the client went away. */
async function stream(res: ServerResponse, chunks: Iterable<string>, contentType: string): Promise<void> {
  res.writeHead(200, { 'content-type': contentType });
  for (const chunk of chunks) {
    if (res.destroyed) return;
    if (!res.write(chunk)) await drainedOrClosed(res);
  }
  res.end();
}

function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
