// NetworkPolicy semantics, one API rule per test, each flow asked of the reference semantics AND
// the compiled buffer, over IPv4 and IPv6: both must give the expected verdict and reason.
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { FLOW_ALLOW, FLOW_DENY_EGRESS, FLOW_DENY_INGRESS } from '../datapath/policy/flow-decider.js';
import { modelPod, modelWorld } from '../../test/netpol-model.js';
import { FlowCheck } from '../../test/policy-flow-check.js';
import type { PolicyWorld } from './world.js';

/** A policy as YAML/JSON writes it (`from`, where client-node's typed objects have `_from`). */
function np(ns: string, name: string, spec: object): V1NetworkPolicy {
  return { metadata: { namespace: ns, name }, spec } as V1NetworkPolicy;
}

const VERDICTS = { allow: FLOW_ALLOW, 'deny-egress': FLOW_DENY_EGRESS, 'deny-ingress': FLOW_DENY_INGRESS };
type Expected = keyof typeof VERDICTS;

/** "x/a" → the pod's address of the family; anything else is an address already. */
function address(world: PolicyWorld, who: string, family: 0 | 1): string {
  const pod = world.pods.find((p) => `${p.namespace}/${p.name}` === who);
  return pod ? pod.ips[family] : who;
}

/** Asserts the verdict (and, when given, the deciding policy's name) both ways, both families. */
function expectFlow(world: PolicyWorld, from: string, to: string, port: string, expected: Expected, policy?: string): void {
  const check = new FlowCheck(world);
  const families: (0 | 1)[] = from.includes('/') || to.includes('/') ? [0, 1] : [from.includes(':') ? 1 : 0];
  for (const family of families) {
    const src = address(world, from, family);
    const dst = address(world, to, family);
    if (!src || !dst || src.includes(':') !== dst.includes(':')) continue;
    const got = check.decide(src, dst, port);
    const label = `${from} → ${to} ${port} (IPv${family ? 6 : 4})`;
    expect(got.reference.verdict, `reference ${label}`).toBe(VERDICTS[expected]);
    expect(got.compiled, `compiled ${label}`).toEqual(got.reference);
    if (policy !== undefined) {
      const names = world.policies.map((p) => `${p.metadata!.namespace}/${p.metadata!.name}`);
      expect(got.reference.policy === -1 ? '' : names[got.reference.policy], `reason ${label}`).toBe(policy);
    }
  }
}

const DENY_INGRESS_A = np('x', 'deny-a', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Ingress'] });

describe('NetworkPolicy: isolation', () => {
  it('no policy selects a pod: everything is allowed', () => {
    const w = modelWorld();
    expectFlow(w, 'x/a', 'y/b', '80/TCP', 'allow', '');
    expectFlow(w, 'z/c', 'x/a', '81/UDP', 'allow');
  });

  it('a policy with Ingress and no rules isolates the pods it selects, only those', () => {
    const w = modelWorld([DENY_INGRESS_A]);
    expectFlow(w, 'y/b', 'x/a', '80/TCP', 'deny-ingress', 'x/deny-a');
    expectFlow(w, 'x/b', 'x/a', '80/TCP', 'deny-ingress');
    expectFlow(w, 'y/b', 'x/b', '80/TCP', 'allow');
    expectFlow(w, 'x/a', 'y/b', '80/TCP', 'allow'); // egress is not isolated
  });

  it('an empty podSelector selects every pod of the policy\'s namespace and no other', () => {
    const w = modelWorld([np('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress'] })]);
    for (const p of ['a', 'b', 'c']) expectFlow(w, 'y/a', `x/${p}`, '80/TCP', 'deny-ingress');
    expectFlow(w, 'x/a', 'y/a', '80/TCP', 'allow');
  });

  it('policyTypes omitted: Ingress, and Egress only when the policy has egress rules', () => {
    const ingressOnly = modelWorld([np('x', 'p', { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] })]);
    expectFlow(ingressOnly, 'x/a', 'y/c', '80/TCP', 'allow'); // not egress-isolated
    expectFlow(ingressOnly, 'y/c', 'x/a', '80/TCP', 'deny-ingress');
    expectFlow(ingressOnly, 'x/b', 'x/a', '80/TCP', 'allow', 'x/p');
    const withEgress = modelWorld([np('x', 'p', { podSelector: {}, egress: [{ to: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] })]);
    expectFlow(withEgress, 'x/a', 'y/c', '80/TCP', 'deny-egress', 'x/p');
    expectFlow(withEgress, 'x/a', 'x/b', '80/TCP', 'deny-ingress'); // no ingress rules: ingress deny-all
  });

  it('policyTypes [Egress] alone: the policy\'s ingress rules are ignored and ingress stays open', () => {
    const w = modelWorld([np('x', 'p', { podSelector: {}, policyTypes: ['Egress'], ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] })]);
    expectFlow(w, 'y/c', 'x/a', '80/TCP', 'allow');
    expectFlow(w, 'x/a', 'y/c', '80/TCP', 'deny-egress');
  });

  it('client-node\'s typed rule (`_from`, as an informer yields it) reads as JSON\'s `from`', () => {
    const typed: V1NetworkPolicy = { metadata: { namespace: 'x', name: 'typed' }, spec: { podSelector: {}, ingress: [{ _from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] } };
    const w = modelWorld([typed]);
    expectFlow(w, 'x/b', 'x/a', '80/TCP', 'allow', 'x/typed');
    expectFlow(w, 'x/c', 'x/a', '80/TCP', 'deny-ingress', 'x/typed');
  });

  it('ingress: [] with policyType Ingress denies every source', () => {
    const w = modelWorld([np('x', 'p', { podSelector: {}, policyTypes: ['Ingress'], ingress: [] })]);
    expectFlow(w, 'x/b', 'x/a', '80/TCP', 'deny-ingress');
  });

  it('stacked policies: a pod\'s allowed traffic is the union of every selecting policy\'s rules', () => {
    const w = modelWorld([
      np('x', 'from-b', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] }),
      np('x', 'from-c', { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'c' } } }] }] }),
    ]);
    expectFlow(w, 'x/b', 'x/a', '80/TCP', 'allow', 'x/from-b');
    expectFlow(w, 'x/c', 'x/a', '80/TCP', 'allow', 'x/from-c');
    expectFlow(w, 'x/b', 'x/c', '80/TCP', 'deny-ingress', 'x/from-c');
    expectFlow(w, 'y/b', 'x/a', '80/TCP', 'deny-ingress', 'x/from-b');
  });

  it('a connection needs the source\'s egress AND the destination\'s ingress', () => {
    const w = modelWorld([
      np('x', 'a-egress-to-y', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] }),
      np('y', 'b-ingress-from-x-b', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'x' } }, podSelector: { matchLabels: { pod: 'b' } } }] }] }),
    ]);
    expectFlow(w, 'x/a', 'y/a', '80/TCP', 'allow', 'x/a-egress-to-y');
    expectFlow(w, 'x/a', 'y/b', '80/TCP', 'deny-ingress', 'y/b-ingress-from-x-b');
    expectFlow(w, 'x/b', 'y/b', '80/TCP', 'allow', 'y/b-ingress-from-x-b');
    expectFlow(w, 'x/a', 'z/a', '80/TCP', 'deny-egress', 'x/a-egress-to-y');
  });
});

describe('NetworkPolicy: peers', () => {
  const allowFrom = (peers: object[] | undefined) => modelWorld([np('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [peers === undefined ? {} : { from: peers }] })]);

  it('a rule with from absent or empty allows every source, pods and outside addresses', () => {
    for (const w of [allowFrom(undefined), allowFrom([])]) {
      expectFlow(w, 'z/c', 'x/a', '80/TCP', 'allow');
      expectFlow(w, '198.51.100.7', 'x/a', '80/TCP', 'allow');
    }
  });

  it('a podSelector peer alone selects pods of the policy\'s own namespace', () => {
    const w = allowFrom([{ podSelector: { matchLabels: { pod: 'b' } } }]);
    expectFlow(w, 'x/b', 'x/a', '80/TCP', 'allow');
    expectFlow(w, 'y/b', 'x/a', '80/TCP', 'deny-ingress');
  });

  it('a namespaceSelector peer alone selects every pod of the matching namespaces', () => {
    const w = allowFrom([{ namespaceSelector: { matchLabels: { ns: 'y' } } }]);
    for (const p of ['a', 'b', 'c']) expectFlow(w, `y/${p}`, 'x/a', '80/TCP', 'allow');
    expectFlow(w, 'x/b', 'x/a', '80/TCP', 'deny-ingress');
    expectFlow(w, 'z/b', 'x/a', '80/TCP', 'deny-ingress');
  });

  it('an empty namespaceSelector selects pods of every namespace, but no outside address', () => {
    const w = allowFrom([{ namespaceSelector: {} }]);
    expectFlow(w, 'z/c', 'x/a', '80/TCP', 'allow');
    expectFlow(w, '198.51.100.7', 'x/a', '80/TCP', 'deny-ingress');
  });

  it('namespaceSelector and podSelector in one peer: both must match (AND)', () => {
    const w = allowFrom([{ namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchLabels: { pod: 'b' } } }]);
    expectFlow(w, 'y/b', 'x/a', '80/TCP', 'allow');
    expectFlow(w, 'y/c', 'x/a', '80/TCP', 'deny-ingress');
    expectFlow(w, 'z/b', 'x/a', '80/TCP', 'deny-ingress');
  });

  it('namespaceSelector and podSelector as two peers: either may match (OR)', () => {
    const w = allowFrom([{ namespaceSelector: { matchLabels: { ns: 'y' } } }, { podSelector: { matchLabels: { pod: 'b' } } }]);
    expectFlow(w, 'y/c', 'x/a', '80/TCP', 'allow');
    expectFlow(w, 'x/b', 'x/a', '80/TCP', 'allow');
    expectFlow(w, 'z/b', 'x/a', '80/TCP', 'deny-ingress');
  });

  it('matchExpressions: In, NotIn (which a pod without the key satisfies), Exists, DoesNotExist', () => {
    const expr = (operator: string, values?: string[]) => allowFrom([{ namespaceSelector: {}, podSelector: { matchExpressions: [{ key: 'pod', operator, values }] } }]);
    expectFlow(expr('In', ['b', 'c']), 'y/b', 'x/a', '80/TCP', 'allow');
    expectFlow(expr('In', ['b', 'c']), 'y/a', 'x/a', '80/TCP', 'deny-ingress');
    expectFlow(expr('NotIn', ['b']), 'y/c', 'x/a', '80/TCP', 'allow');
    expectFlow(expr('NotIn', ['b']), 'y/b', 'x/a', '80/TCP', 'deny-ingress');
    expectFlow(expr('Exists'), 'y/b', 'x/a', '80/TCP', 'allow');
    expectFlow(expr('DoesNotExist'), 'y/b', 'x/a', '80/TCP', 'deny-ingress');
    const w = allowFrom([{ namespaceSelector: {}, podSelector: { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }] } }]);
    expectFlow(w, 'z/c', 'x/a', '80/TCP', 'allow');
    const noTier = allowFrom([{ namespaceSelector: {}, podSelector: { matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] } }]);
    expectFlow(noTier, 'z/c', 'x/a', '80/TCP', 'allow');
  });

  it('matchLabels and matchExpressions together must all hold', () => {
    const w = allowFrom([{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'b' }, matchExpressions: [{ key: 'pod', operator: 'NotIn', values: ['b'] }] } }]);
    expectFlow(w, 'y/b', 'x/a', '80/TCP', 'deny-ingress');
  });

  it('namespaces are matched by their labels, kubernetes.io/metadata.name included', () => {
    const w = allowFrom([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'z' } } }]);
    expectFlow(w, 'z/a', 'x/a', '80/TCP', 'allow');
    expectFlow(w, 'y/a', 'x/a', '80/TCP', 'deny-ingress');
  });

  it('a namespace label change changes which pods a namespaceSelector matches', () => {
    const w = allowFrom([{ namespaceSelector: { matchLabels: { team: 'red' } } }]);
    expectFlow(w, 'y/a', 'x/a', '80/TCP', 'deny-ingress');
    w.namespaces[1].labels = { ...w.namespaces[1].labels, team: 'red' };
    expectFlow(w, 'y/a', 'x/a', '80/TCP', 'allow');
  });

  it('ipBlock matches any address in its cidr, pod IPs included, but not its except', () => {
    const w = allowFrom([{ ipBlock: { cidr: '10.244.0.0/16', except: ['10.244.2.0/24'] } }, { ipBlock: { cidr: 'fd00:10:244::/56', except: ['fd00:10:244:2::/64'] } }]);
    expectFlow(w, 'x/b', 'x/a', '80/TCP', 'deny-ingress'); // x/b lives on n2: 10.244.2.x
    expectFlow(w, 'y/a', 'x/a', '80/TCP', 'allow');
    expectFlow(w, '10.244.9.9', 'x/a', '80/TCP', 'allow');
    expectFlow(w, '10.245.0.1', 'x/a', '80/TCP', 'deny-ingress');
  });

  it('an IPv6 ipBlock never matches an IPv4 address, ::/0 included, and the reverse', () => {
    const w6 = allowFrom([{ ipBlock: { cidr: '::/0' } }]);
    expectFlow(w6, '10.244.9.9', 'x/a', '80/TCP', 'deny-ingress');
    expectFlow(w6, 'fd00:10:244:9::9', 'x/a', '80/TCP', 'allow');
    const w4 = allowFrom([{ ipBlock: { cidr: '0.0.0.0/0' } }]);
    expectFlow(w4, 'fd00:10:244:9::9', 'x/a', '80/TCP', 'deny-ingress');
    expectFlow(w4, '10.244.9.9', 'x/a', '80/TCP', 'allow');
  });

  it('an address that is no known pod is matched only by ipBlock', () => {
    const w = modelWorld([np('x', 'egress', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: {} }] }] })]);
    expectFlow(w, 'x/a', '198.51.100.7', '80/TCP', 'deny-egress');
    expectFlow(w, 'x/a', 'z/c', '80/TCP', 'allow');
    w.policies[0].spec!.egress!.push({ to: [{ ipBlock: { cidr: '198.51.100.0/24' } }] });
    expectFlow(w, 'x/a', '198.51.100.7', '80/TCP', 'allow');
  });
});

describe('NetworkPolicy: ports', () => {
  const allowPorts = (ports: object[]) => modelWorld([np('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports }] })]);

  it('a numeric port allows that port only; protocol defaults to TCP', () => {
    const w = allowPorts([{ port: 80 }]);
    expectFlow(w, 'y/b', 'x/a', '80/TCP', 'allow');
    expectFlow(w, 'y/b', 'x/a', '81/TCP', 'deny-ingress');
    expectFlow(w, 'y/b', 'x/a', '80/UDP', 'deny-ingress');
  });

  it('UDP and SCTP ports match their own protocol only', () => {
    const w = allowPorts([{ port: 81, protocol: 'UDP' }, { port: 80, protocol: 'SCTP' }]);
    expectFlow(w, 'y/b', 'x/a', '81/UDP', 'allow');
    expectFlow(w, 'y/b', 'x/a', '81/TCP', 'deny-ingress');
    expectFlow(w, 'y/b', 'x/a', '80/SCTP', 'allow');
    expectFlow(w, 'y/b', 'x/a', '80/UDP', 'deny-ingress');
  });

  it('a port entry without port allows every port of its protocol', () => {
    const w = allowPorts([{ protocol: 'UDP' }]);
    expectFlow(w, 'y/b', 'x/a', '1/UDP', 'allow');
    expectFlow(w, 'y/b', 'x/a', '65535/UDP', 'allow');
    expectFlow(w, 'y/b', 'x/a', '80/TCP', 'deny-ingress');
  });

  it('endPort: the range from port to endPort, both included', () => {
    const w = allowPorts([{ port: 80, endPort: 82 }]);
    for (const [p, v] of [[79, 'deny-ingress'], [80, 'allow'], [81, 'allow'], [82, 'allow'], [83, 'deny-ingress']] as const) expectFlow(w, 'y/b', 'x/a', `${p}/TCP`, v);
  });

  it('a rule without ports allows every protocol, ICMP included; a rule with ports no ICMP', () => {
    expectFlow(modelWorld([np('x', 'p', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {} }] }] })]), 'y/b', 'x/a', '0/1', 'allow');
    expectFlow(allowPorts([{ port: 80 }]), 'y/b', 'x/a', '0/1', 'deny-ingress');
  });

  it('a named ingress port is resolved on the selected pod\'s container ports, with its protocol', () => {
    const w = allowPorts([{ port: 'serve-81-udp', protocol: 'UDP' }]);
    expectFlow(w, 'y/b', 'x/a', '81/UDP', 'allow');
    expectFlow(w, 'y/b', 'x/a', '80/UDP', 'deny-ingress');
    const wrongProtocol = allowPorts([{ port: 'serve-81-udp' }]); // TCP: the pod's serve-81-udp is UDP
    expectFlow(wrongProtocol, 'y/b', 'x/a', '81/TCP', 'deny-ingress');
    expectFlow(wrongProtocol, 'y/b', 'x/a', '81/UDP', 'deny-ingress');
  });

  it('a named port resolves per destination pod: pods with different numbers under one name', () => {
    const w = modelWorld([np('x', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 'web' }] }] })]);
    w.pods[0].ports.push({ name: 'web', port: 8080, protocol: 'TCP' }); // x/a
    w.pods[1].ports.push({ name: 'web', port: 9090, protocol: 'TCP' }); // x/b
    expectFlow(w, 'y/c', 'x/a', '8080/TCP', 'allow');
    expectFlow(w, 'y/c', 'x/a', '9090/TCP', 'deny-ingress');
    expectFlow(w, 'y/c', 'x/b', '9090/TCP', 'allow');
    expectFlow(w, 'y/c', 'x/c', '8080/TCP', 'deny-ingress');
  });

  it('a named egress port is resolved on each destination pod; an outside address has none', () => {
    const w = modelWorld([np('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ ports: [{ port: 'serve-80-tcp' }] }] })]);
    expectFlow(w, 'x/a', 'y/b', '80/TCP', 'allow');
    expectFlow(w, 'x/a', 'y/b', '81/TCP', 'deny-egress');
    expectFlow(w, 'x/a', '198.51.100.7', '80/TCP', 'deny-egress');
  });
});

describe('NetworkPolicy: nodes, hostNetwork pods and pods without an IP', () => {
  it('traffic from the destination pod\'s own node is allowed into it, from another node not', () => {
    const w = modelWorld([DENY_INGRESS_A]);
    expectFlow(w, '192.0.2.1', 'x/a', '80/TCP', 'allow'); // x/a runs on n1
    expectFlow(w, '10.244.1.0', 'x/a', '80/TCP', 'allow');
    expectFlow(w, '2001:db8::1', 'x/a', '80/TCP', 'allow');
    expectFlow(w, '192.0.2.2', 'x/a', '80/TCP', 'deny-ingress');
  });

  it('a hostNetwork pod is never selected, and as a peer only its node\'s address matches', () => {
    const w = modelWorld([
      np('x', 'host', { podSelector: { matchLabels: { pod: 'h' } }, policyTypes: ['Ingress', 'Egress'] }),
      np('y', 'from-h', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'h' } } }] }] }),
    ]);
    w.pods.push({ namespace: 'x', name: 'h', labels: { pod: 'h' }, ips: ['192.0.2.2'], nodeName: 'n2', hostNetwork: true, ports: [] });
    expectFlow(w, '192.0.2.2', 'y/b', '80/TCP', 'allow'); // not isolated by x/host
    expectFlow(w, '192.0.2.2', 'y/a', '80/TCP', 'deny-ingress'); // the podSelector does not match it
    w.policies[1].spec!.ingress!.push({ _from: [{ ipBlock: { cidr: '192.0.2.0/24' } }] });
    expectFlow(w, '192.0.2.2', 'y/a', '80/TCP', 'allow');
  });

  it('a hostNetwork pod\'s address counts as its node: it may reach the pods of that node', () => {
    const w = modelWorld([DENY_INGRESS_A]);
    w.nodes[0].addresses = []; // the node's own addresses unknown: the hostNetwork pod tells them
    w.pods.push({ namespace: 'kube-system', name: 'agent', labels: {}, ips: ['192.0.2.11'], nodeName: 'n1', hostNetwork: true, ports: [] });
    expectFlow(w, '192.0.2.11', 'x/a', '80/TCP', 'allow');
  });

  it('a pod without an IP is not addressable: its labels match nothing', () => {
    const w = modelWorld([np('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] })]);
    expectFlow(w, '10.244.2.2', 'x/a', '80/TCP', 'allow'); // x/b
    // x/b finished (no IP); its old address now belongs to another pod, which is not pod=b.
    w.pods[1].ips = [];
    w.pods.push({ ...modelPod('x', 'b'), namespace: 'y', name: 'new', labels: { pod: 'q' } });
    expectFlow(w, '10.244.2.2', 'x/a', '80/TCP', 'deny-ingress');
  });
});
