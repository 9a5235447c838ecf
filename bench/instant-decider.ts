// A FlowDecider that allows every flow at once and allocates nothing, for the per-packet benches:
// what they measure is the stage around it; the compiled policy's own cost is bench:policy-compile's.
import { FLOW_ALLOW, type FlowDecider } from '../src/datapath/policy/flow-decider.js';

export class InstantDecider implements FlowDecider {
  /** How many flows were asked about (first packets, and decisions taken again). */
  asked = 0;
  generation(): number {
    return 1;
  }
  decide(): number {
    this.asked++;
    return FLOW_ALLOW;
  }
  reason(): number {
    return 0;
  }
}
