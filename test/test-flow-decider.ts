// A FlowDecider for the datapath tests: a rule over the question's text form, a generation the
// test bumps, and a record of every question asked (the tests count the policy's work with it).
import { formatMappedIp } from '../src/address/ip-text.js';
import { FLOW_ALLOW, type FlowDecider, type FlowQuery } from '../src/datapath/policy/flow-decider.js';

export interface Question {
  src: string;
  dst: string;
  protocol: number;
  dstPort: number;
}

/** Answers FLOW_ALLOW or FLOW_DENY_*, and the index of the policy that decided (-1: none). */
export type Rule = (q: Question) => { verdict: number; policy: number };

export class TestDecider implements FlowDecider {
  gen = 1;
  readonly asked: Question[] = [];
  private last = -1;

  constructor(public rule: Rule = () => ({ verdict: FLOW_ALLOW, policy: -1 })) {}

  /** A new policy: flows decided under the old one are decided again. */
  change(rule: Rule): void {
    this.rule = rule;
    this.gen++;
  }

  generation(): number {
    return this.gen;
  }

  decide(q: FlowQuery): number {
    const question = { src: formatMappedIp(q.src), dst: formatMappedIp(q.dst), protocol: q.protocol, dstPort: q.dstPort };
    this.asked.push(question);
    const { verdict, policy } = this.rule(question);
    this.last = policy;
    return verdict;
  }

  reason(): number {
    return this.last;
  }
}
