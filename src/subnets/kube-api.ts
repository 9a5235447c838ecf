// The few API server requests the daemon makes (list, watch, patch), as plain HTTP(S) with
// JSON bodies: @kubernetes/client-node's API classes load its whole generated client (every API
// group and model, 5 s and 70 MB of resident memory on a loaded node) to send the same bytes.
// Objects come back as the wire has them (`from`, not client-node's `_from`).
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createInterface } from 'node:readline';

/** What a request needs of a kubeconfig: client-node's KubeConfig has both, and so has ours (kube-config.ts). */
export interface KubeConnection {
  getCurrentCluster(): { server: string } | null;
  /** Adds TLS material and the Authorization header to `opts`. */
  applyToHTTPSOptions(opts: RequestOptions): Promise<void>;
}

/** An API server's refusal: its HTTP status and its Status object (its `message` says why). */
export class KubeApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly body: unknown,
    path: string,
  ) {
    super(`HTTP ${statusCode} from ${path}`);
  }
}

/** A watch event as the API server streams it, one JSON object per line. */
export interface WatchEvent {
  type: string;
  object: unknown;
}

async function open(conn: KubeConnection, method: string, path: string, signal?: AbortSignal, contentType?: string): Promise<{ send: (body?: string) => Promise<IncomingMessage> }> {
  const server = conn.getCurrentCluster()?.server;
  if (!server) throw new Error('the kubeconfig has no current cluster');
  const url = new URL(path, server);
  const opts: RequestOptions = { method, headers: { Accept: 'application/json', ...(contentType ? { 'Content-Type': contentType } : {}) } };
  await conn.applyToHTTPSOptions(opts);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return {
    send: (body) =>
      new Promise((resolve, reject) => {
        const req = request(url, { ...opts, signal }, resolve);
        req.on('error', reject);
        req.end(body);
      }),
  };
}

async function readBody(res: IncomingMessage): Promise<string> {
  res.setEncoding('utf8');
  let text = '';
  for await (const chunk of res) text += chunk as string;
  return text;
}

async function jsonRequest(conn: KubeConnection, method: string, path: string, body?: unknown, contentType?: string): Promise<unknown> {
  const res = await (await open(conn, method, path, undefined, contentType)).send(body === undefined ? undefined : JSON.stringify(body));
  const text = await readBody(res);
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: kept as text for the error
  }
  if (res.statusCode === undefined || res.statusCode >= 300) throw new KubeApiError(res.statusCode ?? 0, parsed, path);
  return parsed;
}

/** GET of a collection or object: its JSON. */
export function apiGet<T>(conn: KubeConnection, path: string): Promise<T> {
  return jsonRequest(conn, 'GET', path) as Promise<T>;
}

/** A strategic merge patch (what kubectl and flanneld send for node status). */
export function apiStrategicPatch(conn: KubeConnection, path: string, body: unknown): Promise<unknown> {
  return jsonRequest(conn, 'PATCH', path, body, 'application/strategic-merge-patch+json');
}

/**
 * Watches `path` from `resourceVersion` (with bookmarks); every event goes to `onEvent`, then
 * `done` once the stream ends, however it ended (as client-node's Watch). Resolves once the
 * server answered; rejects when it refused (a `KubeApiError`: 410 Gone, 403) or could not be
 * reached. Abort the returned controller to stop (no `done` then).
 */
export async function apiWatch(conn: KubeConnection, path: string, resourceVersion: string, onEvent: (e: WatchEvent) => void, done: () => void): Promise<AbortController> {
  const controller = new AbortController();
  const query = new URLSearchParams({ watch: 'true', allowWatchBookmarks: 'true', ...(resourceVersion ? { resourceVersion } : {}) });
  const res = await (await open(conn, 'GET', `${path}?${query}`, controller.signal)).send();
  if (res.statusCode !== 200) {
    const text = await readBody(res);
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // kept as text
    }
    throw new KubeApiError(res.statusCode ?? 0, body, path);
  }
  res.socket?.setKeepAlive(true, 30_000); // a dead peer is noticed, not waited on forever
  const lines = createInterface({ input: res, crlfDelay: Infinity });
  lines.on('line', (line) => {
    let event: WatchEvent;
    try {
      event = JSON.parse(line) as WatchEvent;
    } catch {
      return; // a torn line of a cut stream: the rewatch from the last version brings it again
    }
    onEvent(event);
  });
  let ended = false;
  const end = (): void => {
    if (ended || controller.signal.aborted) return;
    ended = true;
    done();
  };
  // A stream cut mid-way ends like one the server closed: the caller rewatches from where it was.
  // readline passes the stream's error on (ECONNRESET of a cut stream): seen here, not thrown.
  res.on('error', () => undefined);
  lines.on('error', () => undefined);
  res.on('close', end);
  return controller;
}
