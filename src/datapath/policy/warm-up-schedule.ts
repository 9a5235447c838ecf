// When a shard warms its policy stage (policy-warm-up.ts): once at start, whole, before any
// traffic, with the policy it starts with; once more, a slice at a time between batches, with the
// first policy it adopts that knows pods (their flows walk the rule lists a pod-less warm-up never
// reaches); never after. A policy without pods after the start warms nothing: its decider takes no
// path the start's warm-up did not, and a cluster of nodes without pods gets a new policy world
// with every node change; each of those used to start a fresh warm-up, and a 5,000-node daemon
// grew ~1 MB per change (docs/decisions.md, "The policy warm-up: …").
import type { CompiledPolicy } from './compiled-policy.js';
import { PolicyWarmUp, warmPolicyStage } from './policy-warm-up.js';

export class WarmUpSchedule {
  /** Warm-ups started so far, whole or sliced. */
  started = 0;
  private warmedWithPods = false;
  /** The sliced warm-up, while it runs. */
  private sliced: PolicyWarmUp | undefined;

  /** `warmed` is called once, when the warm-up with a policy that knows pods has ended. */
  constructor(
    private readonly slotSize: number,
    private readonly warmed: () => void,
  ) {}

  /** The shard's first policy: warmed whole, now. */
  atStart(compiled: CompiledPolicy): void {
    this.started++;
    warmPolicyStage(compiled, this.slotSize);
    this.warmedWithPods = compiled.podCount() > 0;
    if (this.warmedWithPods) this.warmed();
  }

  /** A policy the shard adopted: the sliced warm-up starts if it is the first that knows pods. */
  adopted(compiled: CompiledPolicy): void {
    if (this.warmedWithPods || compiled.podCount() === 0) return;
    this.warmedWithPods = true;
    this.started++;
    this.sliced = new PolicyWarmUp(compiled, this.slotSize);
  }

  /** Whether a sliced warm-up is left: the shard's poll must not block while it is. */
  get pending(): boolean {
    return this.sliced !== undefined;
  }

  /** Runs the sliced warm-up's next `connections` connections, if one is left. */
  step(connections: number): void {
    if (!this.sliced?.step(connections)) return;
    this.sliced = undefined;
    this.warmed();
  }
}
