// Policy changes in the namespace tests, waited for rather than slept on: each change is one
// watch event, and a daemon's `network policy compiled` log says how many policy events went
// into each world it compiled.
import { expect, vi } from 'vitest';
import type { KubeApiServer, KubeObject } from '../src/lab/kube-api-server.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';

/** Policy watch events in the worlds `d` compiled since its log held `mark` lines. */
function compiledChanges(d: VxrouteProcess, mark: number): number {
  return d.logs.slice(mark).reduce((n, l) => n + (l.msg === 'network policy compiled' ? Number(/networkpolicies: (\d+) change/.exec(String(l.why))?.[1] ?? 0) : 0), 0);
}

/** Replaces every NetworkPolicy in `api` with `policies` and waits until every daemon compiled a world holding all these changes. */
export async function replacePolicies(api: KubeApiServer, daemons: VxrouteProcess[], policies: KubeObject[], wait: { timeout: number; interval: number }): Promise<void> {
  const marks = daemons.map((d) => d.logs.length);
  let changes = 0;
  for (const p of api.list('networkpolicies')) changes += Number(api.deleteNetworkPolicy(p.metadata.namespace!, p.metadata.name));
  for (const p of policies) changes += Number(api.upsertNetworkPolicy(p) !== undefined);
  await vi.waitFor(() => daemons.forEach((d, i) => expect(compiledChanges(d, marks[i])).toBe(changes)), wait);
}
