// DirectRouting's routes in the kernel: `<pod CIDR> via <peer's public IP> dev <underlay>`, tagged
// with a routing protocol number of vxroute's own (`proto 118`). The tag is how we know our
// routes: a later run (after kill -9 too), a table change and `vxroute uninstall` find them by it
// and never touch a route someone else made. Thousands of routes go in one `ip -batch`.
import { ipBatch, IpCommandError, ipJson } from './ip-command.js';
import type { DirectRoute, RouteAnswer, RouteLookup } from './direct-route-plan.js';

/** Our routes' protocol number (rtm_protocol; ASCII 'v'), unused by the routing daemons iproute2's rt_protos names. */
export const DIRECT_ROUTE_PROTO = '118';

interface KernelRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  type?: string;
}

/** `ip route get` for every address, in one process; an address the kernel cannot route has no answer. */
export const kernelRouteLookup: RouteLookup = async (addresses) => {
  const { stdout } = await ipBatch(['-j', '-force'], addresses.map((a) => `route get ${a}`));
  const answers = new Map<string, RouteAnswer>();
  for (const line of stdout.split('\n')) {
    if (line.trim() === '') continue;
    for (const r of JSON.parse(line) as KernelRoute[]) {
      if (r.dev !== undefined) answers.set(r.dst, { dev: r.dev, gateway: r.gateway !== undefined, type: r.type });
    }
  }
  return answers;
};

/** Our routes now in the kernel, both families. */
export async function listDirectRoutes(): Promise<DirectRoute[]> {
  const routes: DirectRoute[] = [];
  for (const family of [4, 6] as const) {
    for (const r of await ipJson<KernelRoute>([`-${family}`, 'route', 'show', 'proto', DIRECT_ROUTE_PROTO])) {
      routes.push({ family, cidr: r.dst, via: r.gateway ?? '', dev: r.dev ?? '' });
    }
  }
  return routes;
}

/** Installs what `plan` has and the kernel lacks (replace: a route of the same CIDR is taken over). */
export async function addDirectRoutes(plan: readonly DirectRoute[]): Promise<number> {
  const have = new Set((await listDirectRoutes()).map(key));
  const lines = plan.filter((r) => !have.has(key(r))).map((r) => `route replace ${r.cidr} via ${r.via} dev ${r.dev} proto ${DIRECT_ROUTE_PROTO}`);
  if (lines.length === 0) return 0;
  const { stderr, ok } = await ipBatch([], lines);
  if (!ok) throw new IpCommandError(['-batch', '-'], stderr);
  return lines.length;
}

/** Removes our routes to CIDRs `plan` lacks: a peer that left, moved off our subnet, or a run's leftovers. */
export async function pruneDirectRoutes(plan: readonly DirectRoute[]): Promise<number> {
  const keep = new Set(plan.map((r) => r.cidr));
  const stale = (await listDirectRoutes()).filter((r) => !keep.has(r.cidr));
  if (stale.length === 0) return 0;
  const { stderr, ok } = await ipBatch(['-force'], stale.map((r) => `route del ${r.cidr} proto ${DIRECT_ROUTE_PROTO}`));
  // A route gone meanwhile ("No such process") is what we wanted; anything else is an error.
  const errors = stderr.split('\n').filter((l) => l.trim() !== '' && !/No such process|^Command failed/i.test(l));
  if (!ok && errors.length > 0) throw new IpCommandError(['-batch', '-'], errors.join('\n'));
  return stale.length;
}

/** Removes every route of ours (on exit, and `vxroute uninstall`). */
export function removeDirectRoutes(): Promise<number> {
  return pruneDirectRoutes([]);
}

function key(r: DirectRoute): string {
  return `${r.cidr} ${r.via} ${r.dev}`;
}
