// How the commands that watch a running daemon (top, trace) reach its HTTP endpoint, locally or
// through `kubectl port-forward`; a daemon that cannot be reached is one clear line, not a stack.
import { ConfigError } from '../config-error.js';

export const DEFAULT_ADDR = '127.0.0.1:9475';

export class DaemonUnreachable extends Error {}

/** "host:port" → a base URL; the flag's name goes into the error. */
export function daemonUrl(addr: string, flag = '--addr'): URL {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):(\d{1,5})$/.exec(addr);
  if (!m || Number(m[2]) > 65535) throw new ConfigError(flag, `"${addr}" must be HOST:PORT, e.g. ${DEFAULT_ADDR}`);
  return new URL(`http://${m[1]}:${m[2]}`);
}

export async function request(base: URL, path: string, signal?: AbortSignal): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(new URL(path, base), { signal });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new DaemonUnreachable(`cannot reach vxroute at ${base.host} (${cause?.code ?? cause?.message ?? (err as Error).message}): is it running there? (--addr HOST:PORT; in Kubernetes, kubectl -n vxroute port-forward POD 9475)`);
  }
  if (!res.ok) throw new DaemonUnreachable(`vxroute at ${base.host} answered ${path} with ${res.status}: ${(await res.text()).trim()}`);
  return res;
}

export async function getJson<T>(base: URL, path: string): Promise<T> {
  return (await (await request(base, path)).json()) as T;
}
