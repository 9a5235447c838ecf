// A Kubernetes API server for the kinds vxroute reads (Nodes, Pods, Namespaces and
// NetworkPolicies), speaking the real list/watch protocol that @kubernetes/client-node expects:
// a list with a resourceVersion, then a chunked watch stream of JSON events from that version,
// bookmarks when asked for, "410 Gone" once the history has been compacted past a client's
// version, and PATCH (merge and strategic merge; the status subresource apart). One
// resourceVersion counter and one event history serve every kind, as etcd's revision does.
// Tests drive it to drop watches mid-stream, compact, and go down and come back.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** Any stored object: what the server reads of it is its metadata. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; annotations?: Record<string, string>; labels?: Record<string, string>; [k: string]: unknown };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [k: string]: unknown;
}

export interface NodeObject extends KubeObject {
  spec?: { podCIDR?: string; podCIDRs?: string[]; [k: string]: unknown };
  status?: { addresses?: { type: string; address: string }[]; conditions?: { type: string; [k: string]: unknown }[]; [k: string]: unknown };
}

/** The kinds served, by their plural (the path segment). */
export type Resource = 'nodes' | 'pods' | 'namespaces' | 'networkpolicies';

interface Kind {
  kind: string;
  apiVersion: string;
  /** Path prefix of the group-version: /api/v1 or /apis/GROUP/VERSION. */
  prefix: string;
  namespaced: boolean;
}

const KINDS: Record<Resource, Kind> = {
  nodes: { kind: 'Node', apiVersion: 'v1', prefix: '/api/v1', namespaced: false },
  namespaces: { kind: 'Namespace', apiVersion: 'v1', prefix: '/api/v1', namespaced: false },
  pods: { kind: 'Pod', apiVersion: 'v1', prefix: '/api/v1', namespaced: true },
  networkpolicies: { kind: 'NetworkPolicy', apiVersion: 'networking.k8s.io/v1', prefix: '/apis/networking.k8s.io/v1', namespaced: true },
};

interface WatchEvent {
  rv: number;
  resource: Resource;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
}

interface Watcher {
  res: ServerResponse;
  resource: Resource;
  /** Only this namespace's objects; undefined: all. */
  namespace: string | undefined;
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

const key = (namespace: string | undefined, name: string): string => (namespace ? `${namespace}/${name}` : name);
const newStats = (): ApiStats => ({ lists: 0, watches: 0, patches: 0, lastListAt: undefined });

export class KubeApiServer {
  private rv = 1;
  /** One store per kind, keyed by namespace/name (name alone for cluster-scoped kinds). */
  private readonly stores = new Map<Resource, Map<string, KubeObject>>((Object.keys(KINDS) as Resource[]).map((r) => [r, new Map()]));
  private history: WatchEvent[] = [];
  /** Versions at or below this one are no longer in the history: watching from them is 410 Gone. */
  private compactedTo = 0;
  private readonly watches = new Set<Watcher>();
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  private address: { host: string; port: number } | { path: string } | undefined;
  /** Requests of every kind. */
  readonly stats: ApiStats = newStats();
  private readonly refused = new Map<Resource, number>();
  private readonly kindStats = new Map<Resource, ApiStats>((Object.keys(KINDS) as Resource[]).map((r) => [r, newStats()]));

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

  /** Open watches, of one kind or of all. */
  openWatches(resource?: Resource): number {
    let n = 0;
    for (const w of this.watches) if (resource === undefined || w.resource === resource) n++;
    return n;
  }

  /** Requests for one kind. */
  statsOf(resource: Resource): ApiStats {
    return this.kindStats.get(resource)!;
  }

  /** Creates or replaces an object (ADDED or MODIFIED); returns it as stored, with its resourceVersion. */
  upsert(resource: Resource, object: KubeObject): KubeObject {
    const { namespaced } = KINDS[resource];
    if (namespaced && !object.metadata.namespace) throw new Error(`a ${KINDS[resource].kind} needs metadata.namespace`);
    if (!namespaced && object.metadata.namespace) throw new Error(`a ${KINDS[resource].kind} is cluster-scoped: no metadata.namespace`);
    const existed = this.stores.get(resource)!.has(key(object.metadata.namespace, object.metadata.name));
    return structuredClone(this.store(resource, structuredClone(object), existed ? 'MODIFIED' : 'ADDED'));
  }

  delete(resource: Resource, namespace: string | undefined, name: string): boolean {
    const store = this.stores.get(resource)!;
    const object = store.get(key(namespace, name));
    if (!object) return false;
    store.delete(key(namespace, name));
    this.record(resource, 'DELETED', { ...object, metadata: { ...object.metadata, resourceVersion: String(++this.rv) } });
    return true;
  }

  get(resource: Resource, namespace: string | undefined, name: string): KubeObject | undefined {
    const o = this.stores.get(resource)!.get(key(namespace, name));
    return o && structuredClone(o);
  }

  list(resource: Resource, namespace?: string): KubeObject[] {
    return [...this.stores.get(resource)!.values()].filter((o) => namespace === undefined || o.metadata.namespace === namespace).map((o) => structuredClone(o));
  }

  /** Creates or replaces a node (ADDED or MODIFIED). */
  upsertNode(node: NodeObject): NodeObject {
    return this.upsert('nodes', node) as NodeObject;
  }

  deleteNode(name: string): boolean {
    return this.delete('nodes', undefined, name);
  }

  listNodes(): NodeObject[] {
    return this.list('nodes') as NodeObject[];
  }

  getNode(name: string): NodeObject | undefined {
    return this.get('nodes', undefined, name) as NodeObject | undefined;
  }

  upsertPod(pod: KubeObject): KubeObject {
    return this.upsert('pods', pod);
  }

  deletePod(namespace: string, name: string): boolean {
    return this.delete('pods', namespace, name);
  }

  upsertNamespace(ns: KubeObject): KubeObject {
    return this.upsert('namespaces', ns);
  }

  deleteNamespace(name: string): boolean {
    return this.delete('namespaces', undefined, name);
  }

  upsertNetworkPolicy(policy: KubeObject): KubeObject {
    return this.upsert('networkpolicies', policy);
  }

  deleteNetworkPolicy(namespace: string, name: string): boolean {
    return this.delete('networkpolicies', namespace, name);
  }

  /** Answers every request for `resource` with this HTTP status (403: a role without the rule), or serves it again (undefined). */
  refuse(resource: Resource, code: number | undefined): void {
    if (code === undefined) this.refused.delete(resource);
    else this.refused.set(resource, code);
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

  private store(resource: Resource, object: KubeObject, type: WatchEvent['type']): KubeObject {
    const { kind, apiVersion } = KINDS[resource];
    object.apiVersion = apiVersion;
    object.kind = kind;
    object.metadata.resourceVersion = String(++this.rv);
    // The API server labels every namespace with its name (Kubernetes >= 1.21).
    if (resource === 'namespaces') object.metadata.labels = { ...object.metadata.labels, 'kubernetes.io/metadata.name': object.metadata.name };
    this.stores.get(resource)!.set(key(object.metadata.namespace, object.metadata.name), object);
    this.record(resource, type, object);
    return object;
  }

  private record(resource: Resource, type: WatchEvent['type'], object: KubeObject): void {
    const event: WatchEvent = { rv: this.rv, resource, type, object: structuredClone(object) };
    this.history.push(event);
    if (this.history.length > HISTORY) this.compactedTo = this.history.shift()!.rv;
    for (const w of this.watches) if (matches(w, event)) send(w.res, event.type, event.object);
  }

  /**
   * Routes: /api/v1/{nodes,namespaces,pods}, /api/v1/namespaces/NS/pods,
   * /apis/networking.k8s.io/v1/networkpolicies, /apis/networking.k8s.io/v1/namespaces/NS/networkpolicies,
   * each with /NAME after it, and /status after that.
   */
  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const route = parseRoute(url.pathname);
    if (!route) return status(res, 404, 'NotFound', `no route ${url.pathname}`);
    const { resource, namespace, name, subresource } = route;
    const refusal = this.refused.get(resource);
    if (refusal !== undefined) return status(res, refusal, refusal === 403 ? 'Forbidden' : 'InternalError', `${resource} is refused (${refusal})`);
    if (req.method === 'GET' && name === undefined) {
      return url.searchParams.get('watch') === 'true' ? this.watch(resource, namespace, url, res) : this.listResponse(resource, namespace, res);
    }
    if (req.method === 'GET' && subresource === undefined) {
      const object = this.stores.get(resource)!.get(key(namespace, name!));
      return object ? json(res, 200, object) : notFound(res, resource, name!);
    }
    if (req.method === 'DELETE' && name !== undefined && subresource === undefined) {
      const object = this.stores.get(resource)!.get(key(namespace, name));
      if (!object || !this.delete(resource, namespace, name)) return notFound(res, resource, name);
      return json(res, 200, object);
    }
    if (req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH') {
      let body = '';
      req.setEncoding('utf8').on('data', (d: string) => (body += d));
      req.on('end', () => {
        if (req.method === 'PATCH' && name !== undefined) return this.patch(resource, namespace, name, subresource === 'status', req.headers['content-type'] ?? '', body, res);
        if (req.method === 'PUT' && name !== undefined && subresource === undefined) return this.write(resource, namespace, name, body, res);
        if (req.method === 'POST' && name === undefined) return this.write(resource, namespace, undefined, body, res);
        status(res, 405, 'MethodNotAllowed', `${req.method} ${url.pathname}`);
      });
      return;
    }
    status(res, 405, 'MethodNotAllowed', `${req.method} ${url.pathname}`);
  }

  private countList(resource: Resource): void {
    for (const s of [this.stats, this.statsOf(resource)]) {
      s.lists++;
      s.lastListAt = Date.now();
    }
  }

  private listResponse(resource: Resource, namespace: string | undefined, res: ServerResponse): void {
    this.countList(resource);
    const items = [...this.stores.get(resource)!.values()].filter((o) => namespace === undefined || o.metadata.namespace === namespace);
    const { kind, apiVersion } = KINDS[resource];
    json(res, 200, { kind: `${kind}List`, apiVersion, metadata: { resourceVersion: String(this.rv) }, items });
  }

  private watch(resource: Resource, namespace: string | undefined, url: URL, res: ServerResponse): void {
    this.stats.watches++;
    this.statsOf(resource).watches++;
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
    const w: Watcher = { res, resource, namespace };
    if (from < 0) {
      for (const o of this.stores.get(resource)!.values()) if (namespace === undefined || o.metadata.namespace === namespace) send(res, 'ADDED', o);
    } else {
      for (const e of this.history) if (e.rv > from && matches(w, e)) send(res, e.type, e.object);
    }
    this.watches.add(w);
    const { kind, apiVersion } = KINDS[resource];
    const bookmarks = url.searchParams.get('allowWatchBookmarks') === 'true' && this.opts.bookmarkMs
      ? setInterval(() => send(res, 'BOOKMARK', { kind, apiVersion, metadata: { resourceVersion: String(this.rv) } }), this.opts.bookmarkMs)
      : undefined;
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? 0);
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    res.on('close', () => {
      this.watches.delete(w);
      clearInterval(bookmarks);
      clearTimeout(timer);
    });
  }

  /** POST (name from the body) or PUT (name from the path): create or replace. */
  private write(resource: Resource, namespace: string | undefined, name: string | undefined, body: string, res: ServerResponse): void {
    let object: KubeObject;
    try {
      object = JSON.parse(body) as KubeObject;
    } catch {
      return status(res, 400, 'BadRequest', 'body is not JSON');
    }
    if (typeof object?.metadata?.name !== 'string' || object.metadata.name === '') return status(res, 422, 'Invalid', 'metadata.name: Required value');
    if (name !== undefined && object.metadata.name !== name) return status(res, 400, 'BadRequest', `the name of the object (${object.metadata.name}) does not match the name on the URL (${name})`);
    if (KINDS[resource].namespaced) {
      if (object.metadata.namespace !== undefined && object.metadata.namespace !== namespace) return status(res, 400, 'BadRequest', 'the namespace of the object does not match the namespace on the URL');
      object.metadata.namespace = namespace;
    }
    const exists = this.stores.get(resource)!.has(key(namespace, object.metadata.name));
    if (name === undefined && exists) return status(res, 409, 'AlreadyExists', `${resource} "${object.metadata.name}" already exists`);
    if (name !== undefined && !exists) return notFound(res, resource, name);
    json(res, name === undefined ? 201 : 200, this.store(resource, object, exists ? 'MODIFIED' : 'ADDED'));
  }

  private patch(resource: Resource, namespace: string | undefined, name: string, statusOnly: boolean, contentType: string, body: string, res: ServerResponse): void {
    this.stats.patches++;
    this.statsOf(resource).patches++;
    const object = this.stores.get(resource)!.get(key(namespace, name));
    if (!object) return notFound(res, resource, name);
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
    // The status subresource ignores spec; the main resource ignores status (as kube-apiserver's strategies do).
    const { spec, status: st, metadata } = patch as { spec?: unknown; status?: unknown; metadata?: unknown };
    const next = structuredClone(object) as unknown as Record<string, unknown>;
    if (metadata !== undefined) next.metadata = merge(next.metadata, metadata, strategic, '');
    if (statusOnly && st !== undefined) next.status = merge(next.status, st, strategic, 'status');
    if (!statusOnly && spec !== undefined) next.spec = merge(next.spec, spec, strategic, 'spec');
    json(res, 200, this.store(resource, next as unknown as KubeObject, 'MODIFIED'));
  }
}

function matches(w: Watcher, e: WatchEvent): boolean {
  return e.resource === w.resource && (w.namespace === undefined || e.object.metadata.namespace === w.namespace);
}

function parseRoute(pathname: string): { resource: Resource; namespace: string | undefined; name: string | undefined; subresource: string | undefined } | undefined {
  for (const [resource, k] of Object.entries(KINDS) as [Resource, Kind][]) {
    if (!pathname.startsWith(`${k.prefix}/`)) continue;
    let parts = pathname.slice(k.prefix.length).split('/').filter(Boolean);
    let namespace: string | undefined;
    if (k.namespaced && parts[0] === 'namespaces' && parts.length >= 3) {
      namespace = parts[1];
      parts = parts.slice(2);
    }
    if (parts[0] !== resource || parts.length > 3 || (parts[2] !== undefined && parts[2] !== 'status')) continue;
    return { resource, namespace, name: parts[1], subresource: parts[2] };
  }
  return undefined;
}

function notFound(res: ServerResponse, resource: Resource, name: string): void {
  status(res, 404, 'NotFound', `${resource} "${name}" not found`);
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
