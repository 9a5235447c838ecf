// A Kubernetes API server for Nodes only, speaking the real list/watch protocol that
// @kubernetes/client-node's informer expects: a list with a resourceVersion, then a chunked
// watch stream of JSON events from that version, bookmarks when asked for, "410 Gone" once the
// history has been compacted past a client's version, and PATCH of nodes and nodes/status.
// Tests drive it to drop watches mid-stream, compact, and go down and come back.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface NodeObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; resourceVersion?: string; annotations?: Record<string, string>; labels?: Record<string, string>; [k: string]: unknown };
  spec?: { podCIDR?: string; podCIDRs?: string[]; [k: string]: unknown };
  status?: { addresses?: { type: string; address: string }[]; conditions?: { type: string; [k: string]: unknown }[]; [k: string]: unknown };
}

interface WatchEvent {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: NodeObject;
}

export interface ApiServerOptions {
  /** How an expired resourceVersion is refused: an ERROR event in a 200 stream (as kube-apiserver does), or HTTP 410. */
  expired?: 'event' | 'http';
  bookmarkMs?: number;
}

export interface ApiStats {
  lists: number;
  watches: number;
  patches: number;
  /** Date.now() when the last list request arrived. */
  lastListAt: number | undefined;
}

const HISTORY = 1000;

export class KubeApiServer {
  private rv = 1;
  private readonly nodes = new Map<string, NodeObject>();
  private history: WatchEvent[] = [];
  /** Versions at or below this one are no longer in the history: watching from them is 410 Gone. */
  private compactedTo = 0;
  private readonly watches = new Set<{ res: ServerResponse; from: number }>();
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  private address: { host: string; port: number } | { path: string } | undefined;
  readonly stats: ApiStats = { lists: 0, watches: 0, patches: 0, lastListAt: undefined };

  constructor(private readonly opts: ApiServerOptions = {}) {}

  /** Listens on TCP; returns the bound port. */
  async listen(host: string, port: number): Promise<number> {
    const server = await this.serve({ host, port });
    const bound = (server.address() as { port: number }).port;
    this.address = { host, port: bound };
    return bound;
  }

  /**
   * Listens on a unix socket. A socket path reaches across network namespaces, so a test keeps
   * the server in its own process while a relay inside the lab gives it an underlay address.
   */
  async listenUnix(path: string): Promise<void> {
    await this.serve({ path });
    this.address = { path };
  }

  private async serve(where: { host: string; port: number } | { path: string }): Promise<Server> {
    const server = createServer((req, res) => this.handle(req, res));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(where, resolve);
    });
    this.server = server;
    return server;
  }

  /** Stops answering: closes the listener and every connection, watches included. */
  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.watches.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Answers again on the same address. */
  async up(): Promise<void> {
    if (!this.address) throw new Error('never listened');
    await this.serve(this.address);
  }

  close(): Promise<void> {
    return this.down();
  }

  openWatches(): number {
    return this.watches.size;
  }

  /** Creates or replaces a node (ADDED or MODIFIED). */
  upsertNode(node: NodeObject): NodeObject {
    const existed = this.nodes.has(node.metadata.name);
    return this.store(structuredClone(node), existed ? 'MODIFIED' : 'ADDED');
  }

  deleteNode(name: string): boolean {
    const node = this.nodes.get(name);
    if (!node) return false;
    this.nodes.delete(name);
    this.record('DELETED', { ...node, metadata: { ...node.metadata, resourceVersion: String(++this.rv) } });
    return true;
  }

  listNodes(): NodeObject[] {
    return [...this.nodes.values()].map((n) => structuredClone(n));
  }

  getNode(name: string): NodeObject | undefined {
    const n = this.nodes.get(name);
    return n && structuredClone(n);
  }

  /** Ends every open watch mid-stream, as a restarting API server or a load balancer would. */
  dropWatches(): void {
    for (const w of this.watches) w.res.socket?.destroy();
    this.watches.clear();
  }

  /** Forgets the event history: a client rewatching from any earlier version gets 410 Gone. */
  compact(): void {
    this.compactedTo = this.rv;
    this.history = [];
  }

  private store(node: NodeObject, type: WatchEvent['type']): NodeObject {
    node.apiVersion = 'v1';
    node.kind = 'Node';
    node.metadata.resourceVersion = String(++this.rv);
    this.nodes.set(node.metadata.name, node);
    this.record(type, node);
    return node;
  }

  private record(type: WatchEvent['type'], object: NodeObject): void {
    const event = { rv: this.rv, type, object: structuredClone(object) };
    this.history.push(event);
    if (this.history.length > HISTORY) this.compactedTo = this.history.shift()!.rv;
    for (const w of this.watches) if (event.rv > w.from) send(w.res, event.type, event.object);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const parts = url.pathname.split('/').filter(Boolean); // api v1 nodes [name] [status]
    if (parts[0] !== 'api' || parts[1] !== 'v1' || parts[2] !== 'nodes' || parts.length > 5) return status(res, 404, 'NotFound', `no route ${url.pathname}`);
    const name = parts[3];
    if (req.method === 'GET' && name === undefined) {
      return url.searchParams.get('watch') === 'true' ? this.watch(url, res) : this.list(res);
    }
    if (req.method === 'GET' && name !== undefined && parts.length === 4) {
      const node = this.nodes.get(name);
      return node ? json(res, 200, node) : status(res, 404, 'NotFound', `nodes "${name}" not found`);
    }
    if (req.method === 'PATCH' && name !== undefined) {
      let body = '';
      req.setEncoding('utf8').on('data', (d: string) => (body += d));
      req.on('end', () => this.patch(name, parts[4] === 'status', req.headers['content-type'] ?? '', body, res));
      return;
    }
    status(res, 405, 'MethodNotAllowed', `${req.method} ${url.pathname}`);
  }

  private list(res: ServerResponse): void {
    this.stats.lists++;
    this.stats.lastListAt = Date.now();
    json(res, 200, { kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) }, items: [...this.nodes.values()] });
  }

  private watch(url: URL, res: ServerResponse): void {
    this.stats.watches++;
    const rvText = url.searchParams.get('resourceVersion') ?? '';
    const from = rvText === '' || rvText === '0' ? -1 : Number(rvText);
    if (from >= 0 && from < this.compactedTo) {
      const message = `too old resource version: ${from} (${this.compactedTo})`;
      if (this.opts.expired === 'http') return status(res, 410, 'Expired', message);
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      send(res, 'ERROR', { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'Expired', code: 410 });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    if (from < 0) for (const n of this.nodes.values()) send(res, 'ADDED', n);
    else for (const e of this.history) if (e.rv > from) send(res, e.type, e.object);
    const w = { res, from: this.rv };
    this.watches.add(w);
    const bookmarks = url.searchParams.get('allowWatchBookmarks') === 'true' && this.opts.bookmarkMs
      ? setInterval(() => send(res, 'BOOKMARK', { kind: 'Node', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) } }), this.opts.bookmarkMs)
      : undefined;
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? 0);
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    res.on('close', () => {
      this.watches.delete(w);
      clearInterval(bookmarks);
      clearTimeout(timer);
    });
  }

  private patch(name: string, statusOnly: boolean, contentType: string, body: string, res: ServerResponse): void {
    this.stats.patches++;
    const node = this.nodes.get(name);
    if (!node) return status(res, 404, 'NotFound', `nodes "${name}" not found`);
    const strategic = contentType.startsWith('application/strategic-merge-patch+json');
    if (!strategic && !contentType.startsWith('application/merge-patch+json')) {
      return status(res, 415, 'UnsupportedMediaType', `${contentType} is not a supported patch type`);
    }
    let patch: Record<string, unknown>;
    try {
      patch = JSON.parse(body) as Record<string, unknown>;
    } catch {
      return status(res, 400, 'BadRequest', 'patch is not JSON');
    }
    // The status subresource ignores spec; the main resource ignores status (as kube-apiserver's node strategy does).
    const { spec, status: st, metadata } = patch as { spec?: unknown; status?: unknown; metadata?: unknown };
    const next = structuredClone(node) as unknown as Record<string, unknown>;
    if (metadata !== undefined) next.metadata = merge(next.metadata, metadata, strategic, '');
    if (statusOnly && st !== undefined) next.status = merge(next.status, st, strategic, 'status');
    if (!statusOnly && spec !== undefined) next.spec = merge(next.spec, spec, strategic, 'spec');
    json(res, 200, this.store(next as unknown as NodeObject, 'MODIFIED'));
  }
}

/** RFC 7386 merge patch; with `strategic`, lists of conditions merge by their "type" key. */
function merge(target: unknown, patch: unknown, strategic: boolean, path: string): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
    if (strategic && path === 'status.conditions' && Array.isArray(patch) && Array.isArray(target)) {
      const out = [...(target as { type: string }[])];
      for (const c of patch as { type: string }[]) {
        const i = out.findIndex((o) => o.type === c.type);
        if (i >= 0) out[i] = { ...out[i], ...c };
        else out.push(c);
      }
      return out;
    }
    return patch;
  }
  const out: Record<string, unknown> = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = merge(out[k], v, strategic, path ? `${path}.${k}` : k);
  }
  return out;
}

function send(res: ServerResponse, type: string, object: unknown): void {
  res.write(`${JSON.stringify({ type, object })}\n`);
}

function json(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function status(res: ServerResponse, code: number, reason: string, message: string): void {
  json(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}
