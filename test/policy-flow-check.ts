// One flow asked of both evaluators: the reference semantics and the compiled buffer. Tests and
// benches use it to hold the two to the same answer.
import { CompiledPolicy } from '../src/datapath/policy/compiled-policy.js';
import { compilePolicyIndex } from '../src/policy/compile-policy.js';
import { mappedAddress } from '../src/policy/mapped-address.js';
import { PolicyIndex } from '../src/policy/policy-index.js';
import { PROTOCOL_NUMBERS, referenceDecide, type FlowVerdict } from '../src/policy/reference.js';
import type { PolicyProtocol, PolicyWorld } from '../src/policy/world.js';

export interface BothVerdicts {
  reference: FlowVerdict;
  compiled: FlowVerdict;
}

/** Decides flows of one world both ways; addresses as text, ports as "80/TCP" or a protocol number. */
export class FlowCheck {
  readonly index: PolicyIndex;
  readonly compiled: CompiledPolicy;

  constructor(world: PolicyWorld) {
    this.index = new PolicyIndex(world);
    this.compiled = new CompiledPolicy(compilePolicyIndex(this.index, 1).sab);
  }

  decide(src: string, dst: string, port: string): BothVerdicts {
    const s = mappedAddress(src);
    const d = mappedAddress(dst);
    if (!s || !d) throw new Error(`bad address in ${src} → ${dst}`);
    const [num, proto] = port.split('/');
    const protocol = proto in PROTOCOL_NUMBERS ? PROTOCOL_NUMBERS[proto as PolicyProtocol] : Number(proto);
    const dstPort = Number(num);
    const reference = referenceDecide(this.index, s, d, protocol, dstPort);
    const verdict = this.compiled.decide({ src: s, dst: d, protocol, dstPort });
    return { reference, compiled: { verdict, policy: this.compiled.reason() } };
  }
}
