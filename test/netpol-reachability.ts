// The upstream e2e suite's reachability matrix (kubernetes/kubernetes test/e2e/network/netpol,
// reachability.go and truthtable.go): what each ordered pair of pods is expected to reach, what a
// round of probes observed, and the truth tables printed on a mismatch ("." reaches, "X" does not).
// Pairs that are not asserted (a pod to itself, as upstream's ignoreLoopback; pairs that the
// datapath does not reach yet) are still probed and printed.

/** "x/a": a pod by its namespace and name. */
export type PodString = string;

/** Matches pods by namespace, name, both or neither (every pod), as upstream's Peer. */
export interface Peer {
  namespace?: string;
  pod?: string;
}

function matches(peer: Peer, pod: PodString): boolean {
  const [namespace, name] = pod.split('/');
  return (peer.namespace === undefined || peer.namespace === namespace) && (peer.pod === undefined || peer.pod === name);
}

export class Reachability {
  private readonly table = new Map<PodString, Map<PodString, boolean>>();

  /** Every pair expected to reach (`allowed` true) or not, as upstream's NewReachability. */
  constructor(
    readonly pods: PodString[],
    allowed = true,
  ) {
    for (const from of pods) this.table.set(from, new Map(pods.map((to) => [to, allowed])));
  }

  expect(from: PodString, to: PodString, connected: boolean): void {
    this.row(from).set(this.column(to), connected);
  }

  expectAllIngress(to: PodString, connected: boolean): void {
    for (const from of this.pods) this.expect(from, to, connected);
  }

  expectAllEgress(from: PodString, connected: boolean): void {
    for (const to of this.pods) this.expect(from, to, connected);
  }

  expectPeer(from: Peer, to: Peer, connected: boolean): void {
    for (const f of this.pods) if (matches(from, f)) for (const t of this.pods) if (matches(to, t)) this.expect(f, t, connected);
  }

  expected(from: PodString, to: PodString): boolean {
    return this.row(from).get(this.column(to))!;
  }

  private row(from: PodString): Map<PodString, boolean> {
    const row = this.table.get(from);
    if (!row) throw new Error(`no pod ${from} in the model`);
    return row;
  }

  private column(to: PodString): PodString {
    if (!this.table.has(to)) throw new Error(`no pod ${to} in the model`);
    return to;
  }
}

/** One round of probes: what each ordered pair observed. */
export type Observed = Map<PodString, Map<PodString, boolean>>;

export interface Comparison {
  /** Asserted pairs whose observation matched the expectation. */
  right: number;
  /** Asserted pairs whose observation did not. */
  wrong: number;
  /** Pairs probed and printed but not asserted. */
  ignored: number;
  /** Asserted pairs expected not to reach: each must be a policy drop the daemons count. */
  deniedAsserted: number;
}

export function compare(r: Reachability, observed: Observed, asserted: (from: PodString, to: PodString) => boolean): Comparison {
  const c: Comparison = { right: 0, wrong: 0, ignored: 0, deniedAsserted: 0 };
  for (const from of r.pods) {
    for (const to of r.pods) {
      if (!asserted(from, to)) c.ignored++;
      else if (observed.get(from)!.get(to) === r.expected(from, to)) c.right++;
      else c.wrong++;
      if (asserted(from, to) && !r.expected(from, to)) c.deniedAsserted++;
    }
  }
  return c;
}

/** upstream's TruthTable.PrettyPrint: a header of destinations, a line per source. */
function table(pods: PodString[], mark: (from: PodString, to: PodString) => string): string {
  const lines = [['-', ...pods].join('\t')];
  for (const from of pods) lines.push([from, ...pods.map((to) => mark(from, to))].join('\t'));
  return lines.join('\n');
}

/** Expected, observed and their comparison ("." agrees, "X" differs, "~" differs but is not asserted), as upstream prints them. */
export function truthTables(r: Reachability, observed: Observed, asserted: (from: PodString, to: PodString) => boolean): string {
  const c = compare(r, observed, asserted);
  const reach = (v: boolean | undefined): string => (v === undefined ? '?' : v ? '.' : 'X');
  return [
    `reachability: correct:${c.right}, incorrect:${c.wrong}, not asserted:${c.ignored}, result=${c.wrong === 0}`,
    `expected:\n\n${table(r.pods, (f, t) => reach(r.expected(f, t)))}`,
    `observed:\n\n${table(r.pods, (f, t) => reach(observed.get(f)?.get(t)))}`,
    `comparison:\n\n${table(r.pods, (f, t) => (observed.get(f)?.get(t) === r.expected(f, t) ? '.' : asserted(f, t) ? 'X' : '~'))}`,
  ].join('\n\n');
}
