// Random NetworkPolicy worlds for the differential property tests: labels, selectors of every kind
// and operator, ports named and numbered with endPort, ipBlocks with except, IPv4 and IPv6,
// hostNetwork pods, pods sharing or lacking addresses, some invalid policies; and flows between
// the world's addresses and outside ones.
import type { V1LabelSelector, V1NetworkPolicy } from '@kubernetes/client-node';
import fc from 'fast-check';
import type { PolicyWorld } from '../src/policy/world.js';

const value = fc.constantFrom<string>('a', 'b', 'c');
export const labels = (keys: string[]) => fc.dictionary(fc.constantFrom(...keys), value, { maxKeys: keys.length });

function selector(keys: string[]): fc.Arbitrary<V1LabelSelector> {
  const expression = fc.oneof(
    fc.record({ key: fc.constantFrom(...keys), operator: fc.constantFrom('In', 'NotIn'), values: fc.uniqueArray(value, { minLength: 1, maxLength: 2 }) }),
    fc.record({ key: fc.constantFrom(...keys), operator: fc.constantFrom('Exists', 'DoesNotExist') }),
    // Rarely, what the API server would reject: the rule (or policy selector) fails closed.
    fc.record({ key: fc.constantFrom(...keys), operator: fc.constantFrom('In', 'Maybe'), values: fc.constant([]) }),
  );
  const some = fc.record({ matchLabels: fc.dictionary(fc.constantFrom(...keys), value, { maxKeys: 1 }), matchExpressions: fc.array(expression, { maxLength: 2 }) }, { requiredKeys: [] });
  return fc.oneof({ weight: 1, arbitrary: fc.constant({}) }, { weight: 3, arbitrary: some }).map((s) => s as V1LabelSelector);
}

const POD_KEYS = ['pod', 'app'];
const NS_KEYS = ['ns', 'team', 'kubernetes.io/metadata.name'];
export const NAMESPACES = ['x', 'y', 'z'];
const V4 = ['10.244.0.1', '10.244.0.2', '10.244.1.1', '10.244.1.5', '10.244.1.6', '10.244.2.1', '10.244.3.9'];
const V6 = ['fd00:10:244::1', 'fd00:10:244:1::1', 'fd00:10:244:1::5', 'fd00:10:244:2::1', 'fd00:10:244:3::9'];
export const NODE_ADDRESSES = [['192.0.2.1', '2001:db8::1'], ['192.0.2.2', '2001:db8::2'], ['192.0.2.3']];
const OUTSIDE = ['198.51.100.1', '2001:db8:ff::1'];
const CIDRS = ['10.244.0.0/16', '10.244.1.0/24', '10.244.1.4/30', '0.0.0.0/0', '192.0.2.0/24', '10.244.1.1/32', 'fd00:10:244::/56', 'fd00:10:244:1::/64', '::/0', '2001:db8::/32'];
const EXCEPTS = ['10.244.1.0/24', '10.244.1.4/31', '10.244.3.0/24', '192.0.2.2/32', 'fd00:10:244:1::/64', 'fd00:10:244:1::4/126', '2001:db8::2/128', '10.0.0.0/8'];
const PORT_NAMES = ['web', 'dns', 'serve-80-tcp'];
const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;

export const pod = fc.record({
  namespace: fc.constantFrom(...NAMESPACES),
  name: fc.constantFrom('a', 'b', 'c', 'd'),
  labels: labels(POD_KEYS),
  ips: fc.oneof(
    { weight: 1, arbitrary: fc.constant<string[]>([]) },
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...V4)).map((t) => [...t]) },
    { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...V4), fc.constantFrom(...V6)).map((t) => [...t]) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...V6)).map((t) => [...t]) },
  ),
  nodeName: fc.option(fc.constantFrom('n0', 'n1', 'n2', 'gone'), { nil: undefined }),
  ports: fc.array(fc.record({ name: fc.option(fc.constantFrom(...PORT_NAMES), { nil: undefined }), port: fc.constantFrom(53, 80, 81, 8080), protocol: fc.constantFrom(...PROTOCOLS) }), { maxLength: 3 }),
});

const port = fc.record(
  {
    protocol: fc.constantFrom(...PROTOCOLS),
    port: fc.oneof(fc.constantFrom(53, 80, 81), fc.constantFrom(...PORT_NAMES)),
    endPort: fc.constantFrom(81, 82, 8080, 79),
  },
  { requiredKeys: [] },
);

const peer = fc.oneof(
  fc.record({ podSelector: selector(POD_KEYS), namespaceSelector: selector(NS_KEYS) }, { requiredKeys: [] }),
  fc.record({ ipBlock: fc.record({ cidr: fc.constantFrom(...CIDRS), except: fc.array(fc.constantFrom(...EXCEPTS), { maxLength: 2 }) }, { requiredKeys: ['cidr'] }) }),
);

const rule = (peersField: 'from' | 'to') =>
  // Mostly rules with peers and ports: a rule that allows everything decides little.
  fc.record({ [peersField]: fc.option(fc.array(peer, { maxLength: 3 }), { nil: undefined, freq: 6 }), ports: fc.option(fc.array(port, { maxLength: 3 }), { nil: undefined, freq: 3 }) });

export const policy = fc
  .record({
    namespace: fc.constantFrom(...NAMESPACES),
    podSelector: selector(POD_KEYS),
    policyTypes: fc.option(fc.subarray(['Ingress', 'Egress']), { nil: undefined }),
    ingress: fc.option(fc.array(rule('from'), { maxLength: 3 }), { nil: undefined }),
    egress: fc.option(fc.array(rule('to'), { maxLength: 3 }), { nil: undefined }),
  })
  .map(({ namespace, ...spec }): V1NetworkPolicy => ({ metadata: { namespace }, spec: spec as V1NetworkPolicy['spec'] }));

export const world: fc.Arbitrary<PolicyWorld> = fc
  .record({
    pods: fc.array(fc.tuple(pod, fc.integer({ min: 0, max: 5 })), { minLength: 4, maxLength: 14 }),
    namespaces: fc.tuple(...NAMESPACES.map((name) => labels(['ns', 'team']).map((l) => ({ name, labels: { 'kubernetes.io/metadata.name': name, ...l } })))),
    listed: fc.subarray(NAMESPACES),
    policies: fc.array(policy, { minLength: 1, maxLength: 6 }),
  })
  .map(({ pods, namespaces, listed, policies }) => ({
    // One pod in six is hostNetwork, on its node's address.
    pods: pods.map(([p, roll], i) => (roll === 0 ? { ...p, name: `h${i}`, hostNetwork: true, ips: NODE_ADDRESSES[i % 3] } : { ...p, name: `${p.name}${i}`, hostNetwork: false })),
    namespaces: namespaces.filter((n) => listed.includes(n.name)),
    nodes: NODE_ADDRESSES.map((addresses, i) => ({ name: `n${i}`, addresses })),
    policies: policies.map((p, i) => ({ ...p, metadata: { ...p.metadata, name: `p${i}` } })),
  }));

const V4_ALL = [...V4, ...NODE_ADDRESSES.flat().filter((a) => !a.includes(':')), OUTSIDE[0]];
const V6_ALL = [...V6, ...NODE_ADDRESSES.flat().filter((a) => a.includes(':')), OUTSIDE[1]];
export const flow = fc.record({
  ends: fc.oneof({ weight: 2, arbitrary: fc.tuple(fc.constantFrom(...V4_ALL), fc.constantFrom(...V4_ALL)) }, { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...V6_ALL), fc.constantFrom(...V6_ALL)) }),
  port: fc.constantFrom('53/UDP', '80/TCP', '81/TCP', '81/UDP', '82/TCP', '8080/TCP', '80/SCTP', '0/1', '79/TCP'),
});
