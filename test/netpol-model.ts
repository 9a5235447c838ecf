// The upstream e2e suite's model (kubernetes/kubernetes test/e2e/network/netpol): namespaces x,
// y, z; pods a, b, c labelled pod=<name> serving TCP and UDP on 80 and 81 under container ports
// named serve-<port>-<proto>. Used by the policy tests and benches to build worlds.
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { mappedAddress } from '../src/policy/mapped-address.js';
import type { PolicyPod, PolicyWorld } from '../src/policy/world.js';

export const MODEL_NAMESPACES = ['x', 'y', 'z'] as const;
export const MODEL_PODS = ['a', 'b', 'c'] as const;

/** x/a on n1 is 10.244.1.1 and fd00:10:244:1::1; y/b on n2 is 10.244.2.5 … (node n1 for a, n2 for b and c). */
export function modelPod(ns: string, name: string): PolicyPod {
  const n = MODEL_NAMESPACES.indexOf(ns as never) * 3 + MODEL_PODS.indexOf(name as never) + 1;
  const node = name === 'a' ? 1 : 2;
  return {
    namespace: ns,
    name,
    labels: { pod: name },
    ips: [`10.244.${node}.${n}`, `fd00:10:244:${node}::${n}`],
    nodeName: `n${node}`,
    hostNetwork: false,
    ports: [80, 81].flatMap((port) => (['TCP', 'UDP', 'SCTP'] as const).map((protocol) => ({ name: `serve-${port}-${protocol.toLowerCase()}`, port, protocol }))),
  };
}

export function modelWorld(policies: V1NetworkPolicy[] = []): PolicyWorld {
  return {
    pods: MODEL_NAMESPACES.flatMap((ns) => MODEL_PODS.map((p) => modelPod(ns, p))),
    namespaces: MODEL_NAMESPACES.map((ns) => ({ name: ns, labels: { 'kubernetes.io/metadata.name': ns, ns } })),
    nodes: [
      { name: 'n1', addresses: ['192.0.2.1', '2001:db8::1', '10.244.1.0'] },
      { name: 'n2', addresses: ['192.0.2.2', '2001:db8::2', '10.244.2.0'] },
    ],
    policies,
  };
}

/** 16-byte address of a text address; throws on anything else (test and bench input only). */
export function addr(text: string): Uint8Array {
  const a = mappedAddress(text);
  if (!a) throw new Error(`"${text}" is not an address`);
  return a;
}
