// explain: its verdict is the reference's on every pair of the e2e model under stacked policies,
// and its text names the policies and says why each rule matched or not.
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { MODEL_NAMESPACES, MODEL_PODS, addr, modelWorld } from '../../test/netpol-model.js';
import { explainFlow, formatExplanation } from './explain.js';
import { PolicyIndex } from './policy-index.js';
import { PROTOCOL_NUMBERS, referenceDecide } from './reference.js';

const POLICIES = [
  { metadata: { namespace: 'x', name: 'a-from-y-b' }, spec: { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ port: 'serve-80-tcp' }, { port: 81, endPort: 82, protocol: 'UDP' }] }] } },
  { metadata: { namespace: 'y', name: 'egress-to-x' }, spec: { podSelector: { matchExpressions: [{ key: 'pod', operator: 'NotIn', values: ['c'] }] }, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: 'x' } } }, { ipBlock: { cidr: '10.244.0.0/16', except: ['10.244.2.0/24'] } }] }] } },
  { metadata: { namespace: 'z', name: 'broken' }, spec: { podSelector: {}, ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'pod', operator: 'Maybe' }] } }] }, { ports: [{ port: 80 }] }] } },
] as unknown as V1NetworkPolicy[];

describe('policy explain', () => {
  it('gives the reference verdict for every ordered pair of the model, TCP and UDP', () => {
    const world = modelWorld(POLICIES);
    const index = new PolicyIndex(world);
    const seen = new Set<string>();
    for (const fns of MODEL_NAMESPACES) for (const fp of MODEL_PODS) for (const tns of MODEL_NAMESPACES) for (const tp of MODEL_PODS) {
      for (const [port, protocol] of [[80, 'TCP'], [81, 'UDP'], [81, 'TCP']] as const) {
        const e = explainFlow(world, { namespace: fns, name: fp }, { namespace: tns, name: tp }, { port, protocol });
        const src = world.pods.find((p) => p.namespace === fns && p.name === fp)!.ips[0];
        const dst = world.pods.find((p) => p.namespace === tns && p.name === tp)!.ips[0];
        expect(e.code, `${fns}/${fp} → ${tns}/${tp} ${port}/${protocol}`).toBe(referenceDecide(index, addr(src), addr(dst), PROTOCOL_NUMBERS[protocol], port).verdict);
        seen.add(e.verdict);
      }
    }
    expect([...seen].sort()).toEqual(['allow', 'deny-egress', 'deny-ingress']);
  });

  it('says which policy selected which side and why each peer and port matched or not', () => {
    const world = modelWorld(POLICIES);
    const text = formatExplanation(explainFlow(world, { namespace: 'y', name: 'c' }, { namespace: 'x', name: 'a' }, { port: 80, protocol: 'TCP' }));
    expect(text).toMatch(/^y\/c \(10\.244\.2\.6\) → x\/a \(10\.244\.1\.1\) 80\/TCP: DENY-INGRESS/);
    expect(text).toMatch(/egress: y\/c is not isolated/);
    expect(text).toMatch(/ingress: x\/a is isolated by x\/a-from-y-b/);
    expect(text).toMatch(/✗ peer 0 namespaceSelector \{ns=y\} podSelector \{pod=b\}: pod labels \{pod=c\} do not match/);
    expect(text).toMatch(/✓ port 0 serve-80-tcp\/TCP: resolves to 80 on x\/a; 80 matches/);
    const egress = formatExplanation(explainFlow(world, { namespace: 'y', name: 'a' }, { namespace: 'z', name: 'b' }, { port: 80, protocol: 'TCP' }));
    expect(egress, egress).toMatch(/DENY-EGRESS/);
    expect(egress, egress).toMatch(/✗ peer 1 ipBlock 10\.244\.0\.0\/16 except 10\.244\.2\.0\/24: z\/b \(10\.244\.2\.8\) is in except 10\.244\.2\.0\/24/);
    const broken = formatExplanation(explainFlow(world, { namespace: 'x', name: 'a' }, { namespace: 'z', name: 'a' }, { port: 81, protocol: 'TCP' }));
    expect(broken).toMatch(/rule 0: no match \(invalid, allows nothing: spec\.ingress\[0\]\.from\[0\]\.podSelector\.matchExpressions\[0\]\.operator/);
  });

  it('explains IPv6 on request, addresses as ends, and refuses a pod without an IP', () => {
    const world = modelWorld(POLICIES);
    expect(explainFlow(world, '192.0.2.1', { namespace: 'x', name: 'a' }, { port: 9, protocol: 'TCP' }).ingress.fromOwnNode).toBe(true);
    expect(explainFlow(world, { namespace: 'y', name: 'b' }, { namespace: 'x', name: 'a' }, { port: 80, protocol: 'TCP', family: 6 }).from).toBe('y/b (fd00:10:244:2::5)');
    world.pods[0].ips = [];
    expect(() => explainFlow(world, { namespace: 'x', name: 'a' }, { namespace: 'y', name: 'b' }, { port: 80, protocol: 'TCP' })).toThrow(/has no IP/);
  });
});
