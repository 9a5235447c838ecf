// Policies the API server would reject, or naming ports no pod has: each problem is reported
// under the policy's name and field, nothing throws, and nothing is opened (fail closed).
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { FLOW_ALLOW, FLOW_DENY_INGRESS } from '../datapath/policy/flow-decider.js';
import { modelWorld } from '../../test/netpol-model.js';
import { FlowCheck } from '../../test/policy-flow-check.js';
import { compilePolicy } from './compile-policy.js';
import { PolicyIndex } from './policy-index.js';

const X_A = '10.244.1.1';
const Y_B = '10.244.2.5';

function policy(spec: unknown, name = 'bad'): V1NetworkPolicy {
  return { metadata: { namespace: 'x', name }, spec: spec as V1NetworkPolicy['spec'] };
}

function problemsOf(spec: unknown): { policy: string; field: string; problem: string }[] {
  return new PolicyIndex(modelWorld([policy(spec)])).problems;
}

/** Both evaluators agree; returns the verdict. */
function verdict(policies: V1NetworkPolicy[], src: string, dst: string, port = '80/TCP'): number {
  const got = new FlowCheck(modelWorld(policies)).decide(src, dst, port);
  expect(got.compiled).toEqual(got.reference);
  return got.reference.verdict;
}

const FROM_Y_B = { from: [{ namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchLabels: { pod: 'b' } } }] };

describe('invalid NetworkPolicies', () => {
  const cases: [string, unknown, string, RegExp][] = [
    ['a selector operator that does not exist', { podSelector: {}, ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'pod', operator: 'Maybe', values: ['b'] }] } }] }] }, 'spec.ingress[0].from[0].podSelector.matchExpressions[0].operator', /not a valid operator/],
    ['In without values', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'In', values: [] }] } }] }] }, 'spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].values', /non-empty/],
    ['Exists with values', { podSelector: {}, ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'pod', operator: 'Exists', values: ['b'] }] } }] }] }, 'spec.ingress[0].from[0].podSelector.matchExpressions[0].values', /must be empty/],
    ['a bad label key', { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { '-bad': 'b' } } }] }] }, 'spec.ingress[0].from[0].podSelector.matchLabels', /label name/],
    ['endPort with a named port', { podSelector: {}, ingress: [{ ports: [{ port: 'serve-80-tcp', endPort: 90 }] }] }, 'spec.ingress[0].ports[0].endPort', /numeric port/],
    ['endPort without port', { podSelector: {}, ingress: [{ ports: [{ endPort: 90 }] }] }, 'spec.ingress[0].ports[0].endPort', /numeric port/],
    ['endPort below port', { podSelector: {}, ingress: [{ ports: [{ port: 90, endPort: 80 }] }] }, 'spec.ingress[0].ports[0].endPort', /greater than or equal to port 90/],
    ['a port out of range', { podSelector: {}, ingress: [{ ports: [{ port: 70000 }] }] }, 'spec.ingress[0].ports[0].port', /1-65535/],
    ['port 0', { podSelector: {}, ingress: [{ ports: [{ port: 0 }] }] }, 'spec.ingress[0].ports[0].port', /1-65535/],
    ['a port name the API refuses', { podSelector: {}, ingress: [{ ports: [{ port: 'Serve_80' }] }] }, 'spec.ingress[0].ports[0].port', /port name/],
    ['an unknown protocol', { podSelector: {}, ingress: [{ ports: [{ port: 80, protocol: 'ICMP' }] }] }, 'spec.ingress[0].ports[0].protocol', /not TCP, UDP or SCTP/],
    ['an invalid cidr', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.244.0.0/33' } }] }] }, 'spec.ingress[0].from[0].ipBlock.cidr', /not a valid CIDR/],
    ['an except outside its cidr', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.244.0.0/16', except: ['10.245.0.0/24'] } }] }] }, 'spec.ingress[0].from[0].ipBlock.except[0]', /strict subset/],
    ['an except equal to its cidr', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.244.0.0/16', except: ['10.244.0.0/16'] } }] }] }, 'spec.ingress[0].from[0].ipBlock.except[0]', /strict subset/],
    ['an except of the other family', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['fd00::/8'] } }] }] }, 'spec.ingress[0].from[0].ipBlock.except[0]', /strict subset/],
    ['ipBlock with a selector', { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '0.0.0.0/0' }, podSelector: {} }] }] }, 'spec.ingress[0].from[0]', /cannot be combined/],
    ['an empty peer', { podSelector: {}, ingress: [{ from: [{}] }] }, 'spec.ingress[0].from[0]', /must specify/],
  ];
  for (const [what, spec, field, problem] of cases) {
    it(`${what}: reported by name and field; the rule allows nothing, the policy still isolates`, () => {
      const problems = problemsOf(spec);
      expect(problems.map((p) => p.policy)).toContain('x/bad');
      expect(problems.find((p) => p.field === field)?.problem, JSON.stringify(problems)).toMatch(problem);
      // Read loosely, most of these rules would let y/b in; invalid, they let nothing in.
      expect(verdict([policy(spec)], Y_B, X_A)).toBe(FLOW_DENY_INGRESS);
    });
  }

  it('an invalid rule allows nothing while the valid rules of its policy still allow', () => {
    const spec = { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: 'nonsense' } }] }, FROM_Y_B] };
    expect(verdict([policy(spec)], Y_B, X_A)).toBe(FLOW_ALLOW);
    expect(verdict([policy(spec)], '10.244.2.4', X_A)).toBe(FLOW_DENY_INGRESS); // y/a
  });

  it('an invalid spec.podSelector isolates every pod of its namespace and allows nothing', () => {
    const spec = { podSelector: { matchExpressions: [{ key: 'pod', operator: 'In' }] }, ingress: [{}] };
    expect(problemsOf(spec).map((p) => p.field)).toContain('spec.podSelector.matchExpressions[0].values');
    expect(verdict([policy(spec)], Y_B, X_A)).toBe(FLOW_ALLOW); // its rule is valid and allows all
    const deny = { podSelector: { matchExpressions: [{ key: 'pod', operator: 'In' }] }, policyTypes: ['Ingress'] };
    expect(verdict([policy(deny)], Y_B, '10.244.2.3')).toBe(FLOW_DENY_INGRESS); // x/c too, not only pod=a
    expect(verdict([policy(deny)], X_A, Y_B)).toBe(FLOW_ALLOW); // other namespaces untouched
  });

  it('an unknown policyTypes value isolates both directions', () => {
    const spec = { podSelector: {}, policyTypes: ['Ingres'] };
    expect(problemsOf(spec).map((p) => p.field)).toEqual(['spec.policyTypes[0]']);
    expect(verdict([policy(spec)], Y_B, X_A)).toBe(FLOW_DENY_INGRESS);
    expect(verdict([policy(spec)], X_A, Y_B)).not.toBe(FLOW_ALLOW);
  });

  it('garbage where objects belong never throws', () => {
    const garbage = [null, 'text', 7, [], { podSelector: 'all' }, { ingress: 'all' }, { ingress: [null, 3, { from: 'y' }, { ports: [null, { port: {} }] }] }, { egress: [{ to: [null, { ipBlock: { cidr: 5, except: 'x' } }] }] }, { podSelector: { matchExpressions: [null] } }, { policyTypes: 'Ingress' }];
    for (const spec of garbage) {
      const world = modelWorld([policy(spec), { metadata: undefined, spec: undefined }]);
      expect(() => compilePolicy(world, 1), JSON.stringify(spec)).not.toThrow();
      expect(() => verdict(world.policies, Y_B, X_A), JSON.stringify(spec)).not.toThrow();
    }
  });

  it('a named port no pod has is reported (the entry matches nothing until one does)', () => {
    const problems = problemsOf({ podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ port: 'serve-80-tcp' }, { port: 'metrics' }] }] });
    expect(problems).toEqual([{ policy: 'x/bad', field: 'spec.ingress[0].ports[1].port', problem: expect.stringMatching(/"metrics" \(TCP\)/) }]);
    expect(problemsOf({ podSelector: {}, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'serve-80-sctp', protocol: 'SCTP' }] }] })).toEqual([]);
  });

  it('valid policies report nothing', () => {
    expect(problemsOf({ podSelector: { matchExpressions: [{ key: 'pod', operator: 'NotIn', values: ['a'] }] }, ingress: [FROM_Y_B, { ports: [{ port: 80, endPort: 81 }, { protocol: 'SCTP' }] }, { from: [{ ipBlock: { cidr: '10.244.1.7/16', except: ['10.244.3.0/24'] } }] }] })).toEqual([]);
  });
});
