// One kind of API object, listed then watched, kept only in its trimmed form: client-node's
// informer keeps every object whole (a V1Pod with its managed fields and statuses is tens of
// times what NetworkPolicy reads), so this is a list-watch of our own over plain HTTP
// (kube-api.ts). A watch that ends is resumed from the last resourceVersion; 410 Gone (HTTP or
// an ERROR event) relists at once; any other failure relists after a jittered exponential
// backoff (docs/decisions.md, "A fresh informer after every API failure"). Until that relist
// succeeds the kind is not synced, and what it holds is the last good state. Several readers may
// follow one list-watch (the subnet table and NetworkPolicy both read nodes): each subscribes.
import { isDeepStrictEqual } from 'node:util';
import { apiGet, apiWatch, type KubeConnection, type WatchEvent } from '../subnets/kube-api.js';

export interface ListWatchKind<A, T> {
  /** For messages: "pods", "networkpolicies". */
  resource: string;
  /** The collection's path, cluster-wide: /api/v1/pods. */
  path: string;
  /** An object as the wire has it (plain JSON) in the form `trim` reads, where the two differ. */
  fromWire?(raw: unknown): A;
  /** What is kept of an object. */
  trim(object: A): T;
}

export interface ListWatchSubscriber {
  /** What is kept changed (true), or only the state (false). */
  changed(contents: boolean): void;
  /** Before `changed(true)`: the key of each object added, replaced or removed, for readers that follow changes one object at a time. */
  objectChanged?(key: string): void;
  /** A failure, with the delay before the next attempt. */
  failed?(problem: string, retryInMs: number): void;
}

export type ListWatchState = 'listing' | 'synced' | 'failed';

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 16_000;

interface Meta {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

interface StatusObject {
  code?: number;
  message?: string;
}

export class ListWatchSource<A extends Meta, T> {
  /** Trimmed objects by namespace/name. */
  private objects = new Map<string, T>();
  private rv = '';
  private stateNow: ListWatchState = 'listing';
  private error: string | undefined;
  /** An ERROR event other than 410 seen on the current watch: its end is a failure. */
  private watchError: string | undefined;
  private request: AbortController | undefined;
  /** Bumped on every (re)start and stop: callbacks of an older attempt are ignored. */
  private attempt = 0;
  private backoffMs = BACKOFF_MIN_MS;
  private retry: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  private readonly subscribers: ListWatchSubscriber[] = [];

  constructor(
    private readonly conn: KubeConnection,
    private readonly kind: ListWatchKind<A, T>,
  ) {}

  subscribe(subscriber: ListWatchSubscriber): void {
    this.subscribers.push(subscriber);
  }

  /** Lists and watches; a no-op while it already runs (another subscriber started it). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopped = false;
    void this.run(++this.attempt);
  }

  stop(): void {
    this.running = false;
    this.stopped = true;
    this.attempt++;
    clearTimeout(this.retry);
    this.request?.abort();
    this.request = undefined;
  }

  get resource(): string {
    return this.kind.resource;
  }

  /** Listed, and no failure since: what it holds is the cluster as the watch tells it. */
  state(): ListWatchState {
    return this.stateNow;
  }

  problem(): string | undefined {
    return this.error;
  }

  values(): T[] {
    return [...this.objects.values()];
  }

  /** The object kept under a key ("namespace/name", or the name of a cluster-wide object). */
  get(key: string): T | undefined {
    return this.objects.get(key);
  }

  size(): number {
    return this.objects.size;
  }

  private async run(attempt: number): Promise<void> {
    if (!this.rv && !(await this.relist(attempt))) return;
    this.watchError = undefined;
    let request: AbortController;
    try {
      request = await apiWatch(
        this.conn,
        this.kind.path,
        this.rv,
        (e: WatchEvent) => {
          if (attempt === this.attempt) this.event(e.type, e.object);
        },
        () => {
          if (attempt === this.attempt && !this.stopped) this.ended();
        },
      );
    } catch (err) {
      if (attempt !== this.attempt) return;
      if ((err as { statusCode?: number }).statusCode !== 410) return this.failed(describe(err, this.kind.resource));
      this.rv = ''; // history compacted past us: relist at once
      return void this.run(++this.attempt);
    }
    if (attempt === this.attempt) this.request = request;
    else request.abort(); // stopped or restarted while the watch was connecting
  }

  /**
   * Lists and replaces what is kept; false when this attempt is over. Its own frame, so that the
   * whole parsed list is garbage before the watch connects, not kept alive by the caller's frame.
   */
  private async relist(attempt: number): Promise<boolean> {
    let list;
    try {
      list = await apiGet<{ items?: unknown[]; metadata?: { resourceVersion?: string } }>(this.conn, this.kind.path);
    } catch (err) {
      if (attempt === this.attempt) this.failed(describe(err, this.kind.resource));
      return false;
    }
    if (attempt !== this.attempt) return false;
    const next = new Map<string, T>();
    for (const raw of list.items ?? []) {
      const item = this.typed(raw);
      const key = keyOf(item);
      const kept = this.kind.trim(item);
      const before = this.objects.get(key);
      next.set(key, before !== undefined && isDeepStrictEqual(before, kept) ? before : kept); // the same object while unchanged
    }
    // A relist after an outage may find what we had: then only the state changed.
    const same = this.stateNow !== 'listing' && sameContents(this.objects, next);
    const before = this.objects;
    this.objects = next;
    if (!same) {
      for (const [key, object] of next) if (before.get(key) !== object) this.notifyObject(key);
      for (const key of before.keys()) if (!next.has(key)) this.notifyObject(key);
    }
    this.rv = list.metadata?.resourceVersion ?? '';
    this.error = undefined;
    this.backoffMs = BACKOFF_MIN_MS;
    this.stateNow = 'synced';
    this.notify(!same);
    return true;
  }

  private typed(raw: unknown): A {
    return this.kind.fromWire ? this.kind.fromWire(raw) : (raw as A);
  }

  private notifyObject(key: string): void {
    for (const s of this.subscribers) s.objectChanged?.(key);
  }

  private notify(contents: boolean): void {
    for (const s of this.subscribers) s.changed(contents);
  }

  private event(type: string, object: unknown): void {
    if (type === 'ERROR') {
      const status = object as StatusObject;
      if (status.code === 410) this.rv = ''; // history compacted past us: relist when the stream ends
      else this.watchError = `watch error: ${status.message ?? 'unknown'}${status.code ? ` (code ${status.code})` : ''}`;
      return;
    }
    const meta = (object as Meta).metadata;
    if (type === 'ADDED' || type === 'MODIFIED') {
      const typed = this.typed(object);
      const key = keyOf(typed);
      const trimmed = this.kind.trim(typed);
      const before = this.objects.get(key);
      if (before === undefined || !isDeepStrictEqual(before, trimmed)) {
        this.objects.set(key, trimmed);
        this.notifyObject(key);
        this.notify(true);
      }
    } else if (type === 'DELETED') {
      const key = keyOf(object as A);
      if (this.objects.delete(key)) {
        this.notifyObject(key);
        this.notify(true);
      }
    }
    if (meta?.resourceVersion) this.rv = meta.resourceVersion; // BOOKMARK too
  }

  private ended(): void {
    this.request = undefined;
    if (this.watchError) return this.failed(this.watchError);
    void this.run(++this.attempt); // rewatch from where we were, or relist after 410
  }

  private failed(problem: string): void {
    this.error = `${this.kind.resource}: ${problem}`;
    const wasSynced = this.stateNow === 'synced';
    this.stateNow = 'failed';
    this.rv = ''; // the server may have forgotten our version: relist, and only then trust it again
    if (wasSynced) this.notify(false);
    if (this.stopped) return;
    const delay = this.backoffMs * (0.75 + Math.random() / 2); // ±25% jitter: nodes do not retry in lockstep
    this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF_MAX_MS);
    for (const s of this.subscribers) s.failed?.(this.error, Math.round(delay));
    clearTimeout(this.retry);
    const attempt = ++this.attempt;
    this.retry = setTimeout(() => void this.run(attempt), delay);
  }
}

function keyOf(o: Meta): string {
  const m = o.metadata;
  return m?.namespace ? `${m.namespace}/${m.name ?? ''}` : (m?.name ?? '');
}

function sameContents<T>(a: Map<string, T>, b: Map<string, T>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of b) {
    const old = a.get(k);
    if (old === undefined || !isDeepStrictEqual(old, v)) return false;
  }
  return true;
}

/** One line: an API refusal carries the API's Status in its body. */
function describe(err: unknown, resource: string): string {
  const e = err as Error & { statusCode?: number; code?: number | string; body?: unknown };
  const status = e.statusCode ?? (typeof e.code === 'number' ? e.code : undefined);
  let message = e.message || String(err);
  if (status !== undefined && e.body !== undefined) {
    try {
      const body = (typeof e.body === 'string' ? JSON.parse(e.body) : e.body) as { message?: unknown };
      message = typeof body.message === 'string' ? body.message : message.split('\n')[0];
    } catch {
      message = message.split('\n')[0];
    }
  }
  // Nodes are the subnet table's too: only the other kinds go with --no-network-policy.
  const forbidden = status === 403 ? `: vxroute's service account needs get, list and watch here (deploy/kubernetes/rbac.yaml)${resource === 'nodes' ? '' : ', or run with --no-network-policy'}` : '';
  return `${message}${status ? ` (HTTP ${status})` : ''}${forbidden}`;
}
