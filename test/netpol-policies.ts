// NetworkPolicies as the upstream e2e suite builds them (kubernetes/kubernetes
// test/e2e/network/netpol/policies.go): a name, the pods it selects, and its ingress and egress
// rules; each direction given (even with no rule) is in policyTypes, as SetSpecIngressRules and
// SetSpecEgressRules do. Written as the API's JSON (`from`, not client-node's `_from`).

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

export interface PolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}

export interface PolicyPort {
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  port?: number | string;
  endPort?: number;
}

export interface IngressRule {
  from?: PolicyPeer[];
  ports?: PolicyPort[];
}

export interface EgressRule {
  to?: PolicyPeer[];
  ports?: PolicyPort[];
}

export interface NetworkPolicy {
  name: string;
  spec: {
    podSelector: LabelSelector;
    policyTypes: ('Ingress' | 'Egress')[];
    ingress?: IngressRule[];
    egress?: EgressRule[];
  };
}

/** upstream's GenNetworkPolicyWithNameAndPodSelector with SetSpecIngressRules / SetSpecEgressRules. */
export function networkPolicy(name: string, podSelector: LabelSelector, rules: { ingress?: IngressRule[]; egress?: EgressRule[] }): NetworkPolicy {
  const policyTypes: ('Ingress' | 'Egress')[] = [];
  if (rules.ingress) policyTypes.push('Ingress');
  if (rules.egress) policyTypes.push('Egress');
  return { name, spec: { podSelector, policyTypes, ...rules } };
}

/** upstream's GenNetworkPolicyWithNameAndPodMatchLabel. */
export function policyForLabels(name: string, matchLabels: Record<string, string>, rules: { ingress?: IngressRule[]; egress?: EgressRule[] }): NetworkPolicy {
  return networkPolicy(name, { matchLabels }, rules);
}

/** A namespace by its name (the label the API server sets). */
export const namespaceNamed = (name: string): LabelSelector => ({ matchLabels: { 'kubernetes.io/metadata.name': name } });
