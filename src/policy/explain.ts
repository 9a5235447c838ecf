// `vxroute policy explain`: why a flow is allowed or denied, rule by rule. Independent of the
// compiled form (it walks the parsed policies), so it can show what matched and what did not:
// each policy that selects either side, for which direction, and for each of its rules which
// peer matched or why none did, which port entry matched and what a named port resolved to.
import type { V1LabelSelector } from '@kubernetes/client-node';
import { FLOW_ALLOW, FLOW_DENY_EGRESS, FLOW_DENY_INGRESS } from '../datapath/policy/flow-decider.js';
import { selectorMatches } from './label-selector.js';
import { mappedAddress, prefixContains } from './mapped-address.js';
import type { Direction, ParsedPeer, ParsedPolicy, ParsedPort } from './parsed-policy.js';
import { PolicyIndex } from './policy-index.js';
import { PROTOCOL_NUMBERS } from './reference.js';
import type { PolicyProtocol, PolicyWorld } from './world.js';

/** A pod by name, or an address (a node, a hostNetwork pod, something outside). */
export type FlowEnd = { namespace: string; name: string } | string;

export interface Check {
  matched: boolean;
  /** One line: what was compared and the outcome. */
  why: string;
}

export interface RuleExplanation {
  index: number;
  matched: boolean;
  /** Set when the rule is invalid (it allows nothing). */
  invalid?: string;
  peers: Check[];
  ports: Check[];
}

export interface PolicyExplanation {
  policy: string;
  index: number;
  direction: Direction;
  allows: boolean;
  rules: RuleExplanation[];
}

export interface SideExplanation {
  /** The pod whose rules apply (the source for egress, the destination for ingress), if it is one. */
  pod: string | undefined;
  isolated: boolean;
  policies: PolicyExplanation[];
}

export interface Explanation {
  verdict: 'allow' | 'deny-egress' | 'deny-ingress';
  /** FLOW_ALLOW or FLOW_DENY_*, as the datapath's decide() returns. */
  code: number;
  from: string;
  to: string;
  port: number;
  protocol: PolicyProtocol;
  egress: SideExplanation;
  ingress: SideExplanation & { fromOwnNode: boolean };
}

export function explainFlow(world: PolicyWorld, from: FlowEnd, to: FlowEnd, flow: { port: number; protocol: PolicyProtocol; family?: 4 | 6 }): Explanation {
  const index = new PolicyIndex(world);
  const [src, dst] = resolveEnds(index, from, to, flow.family);
  const protocol = PROTOCOL_NUMBERS[flow.protocol];
  const srcPod = index.podAt(src.addr);
  const dstPod = index.podAt(dst.addr);

  const side = (dir: Direction, pod: number, peerAddr: Uint8Array, peerPod: number, peerText: string): SideExplanation => {
    if (pod < 0) return { pod: undefined, isolated: false, policies: [] };
    const policies = index.policies
      .filter((p) => p.isolates[dir] && index.selects(p, pod))
      .map((p): PolicyExplanation => {
        const rules = p.rules[dir].map((r): RuleExplanation => {
          const peers = r.peers === undefined ? [{ matched: true, why: `no ${dir === 'ingress' ? 'from' : 'to'}: every ${dir === 'ingress' ? 'source' : 'destination'}` }] : r.peers.map((peer, i) => explainPeer(index, p, peer, i, peerAddr, peerPod, peerText));
          const ports = r.ports === undefined ? [{ matched: true, why: 'no ports: every port and protocol' }] : r.ports.map((port, i) => explainPort(index, port, i, protocol, flow.port, dstPod));
          const matched = r.valid && peers.some((c) => c.matched) && ports.some((c) => c.matched);
          return { index: r.index, matched, invalid: r.valid ? undefined : problemsOfRule(p, dir, r.index), peers, ports };
        });
        return { policy: `${p.namespace}/${p.name}`, index: p.index, direction: dir, allows: rules.some((r) => r.matched), rules };
      });
    return { pod: `${index.pods[pod].namespace}/${index.pods[pod].name}`, isolated: policies.length > 0, policies };
  };

  const egress = side('egress', srcPod, dst.addr, dstPod, dst.text);
  const ingressSide = side('ingress', dstPod, src.addr, srcPod, src.text);
  const node = dstPod >= 0 ? index.podNode(dstPod) : -1;
  const fromOwnNode = node >= 0 && index.nodeAt(src.addr) === node;
  const ingress = { ...ingressSide, fromOwnNode };
  let code = FLOW_ALLOW;
  if (egress.isolated && !egress.policies.some((p) => p.allows)) code = FLOW_DENY_EGRESS;
  else if (ingress.isolated && !fromOwnNode && !ingress.policies.some((p) => p.allows)) code = FLOW_DENY_INGRESS;
  const verdict = code === FLOW_ALLOW ? 'allow' : code === FLOW_DENY_EGRESS ? 'deny-egress' : 'deny-ingress';
  return { verdict, code, from: src.text, to: dst.text, port: flow.port, protocol: flow.protocol, egress, ingress };
}

function resolveEnds(index: PolicyIndex, from: FlowEnd, to: FlowEnd, family: 4 | 6 | undefined): [{ addr: Uint8Array; text: string }, { addr: Uint8Array; text: string }] {
  const ips = (end: FlowEnd): string[] => {
    if (typeof end === 'string') return [end];
    const pod = index.world.pods.find((p) => p.namespace === end.namespace && p.name === end.name);
    if (!pod) throw new Error(`no pod ${end.namespace}/${end.name}`);
    if (pod.ips.length === 0) throw new Error(`pod ${end.namespace}/${end.name} has no IP: it cannot be reached, nor reach anything`);
    return pod.ips;
  };
  const name = (end: FlowEnd, ip: string) => (typeof end === 'string' ? ip : `${end.namespace}/${end.name} (${ip})`);
  for (const fam of family ? [family] : ([4, 6] as const)) {
    const s = ips(from).find((ip) => ip.includes(':') === (fam === 6));
    const d = ips(to).find((ip) => ip.includes(':') === (fam === 6));
    const sa = s === undefined ? undefined : mappedAddress(s);
    const da = d === undefined ? undefined : mappedAddress(d);
    if (sa && da) return [{ addr: sa, text: name(from, s!) }, { addr: da, text: name(to, d!) }];
  }
  throw new Error(`no address of one family on both ends${family ? ` (IPv${family})` : ''}`);
}

function problemsOfRule(policy: ParsedPolicy, dir: Direction, rule: number): string {
  const prefix = `spec.${dir}[${rule}]`;
  return policy.problems
    .filter((p) => p.field === prefix || p.field.startsWith(`${prefix}.`))
    .map((p) => `${p.field}: ${p.problem.replace(' (this rule allows nothing)', '')}`)
    .join('; ');
}

export function formatSelector(sel: V1LabelSelector | undefined): string {
  if (sel === undefined) return '(absent)';
  const parts = Object.entries(sel.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of sel.matchExpressions ?? []) parts.push(e.operator === 'Exists' ? e.key : e.operator === 'DoesNotExist' ? `!${e.key}` : `${e.key} ${e.operator.toLowerCase()} (${(e.values ?? []).join(',')})`);
  return parts.length === 0 ? '{} (everything)' : `{${parts.join(', ')}}`;
}

function explainPeer(index: PolicyIndex, policy: ParsedPolicy, peer: ParsedPeer, i: number, addr: Uint8Array, pod: number, text: string): Check {
  const at = `peer ${i}`;
  switch (peer.kind) {
    case 'invalid':
      return { matched: false, why: `${at}: invalid, matches nothing` };
    case 'ipBlock': {
      const cidr = `ipBlock ${peer.cidrText}${peer.exceptText.length ? ` except ${peer.exceptText.join(', ')}` : ''}`;
      if (!prefixContains(peer.cidr, addr)) return { matched: false, why: `${at} ${cidr}: ${text} is outside ${peer.cidrText}` };
      const e = peer.except.findIndex((x) => prefixContains(x, addr));
      if (e >= 0) return { matched: false, why: `${at} ${cidr}: ${text} is in except ${peer.exceptText[e]}` };
      return { matched: true, why: `${at} ${cidr}: ${text} is inside` };
    }
    case 'pods': {
      const desc = `${at} namespaceSelector ${peer.namespaceSelector === undefined ? `(absent: namespace ${policy.namespace})` : formatSelector(peer.namespaceSelector)} podSelector ${formatSelector(peer.podSelector)}`;
      if (pod < 0) return { matched: false, why: `${desc}: ${text} is no pod a selector can match (outside, a node or a hostNetwork pod)` };
      const p = index.pods[pod];
      if (!index.namespaceMatches(policy, peer.namespaceSelector, p.namespace)) return { matched: false, why: `${desc}: namespace ${p.namespace} does not match` };
      if (peer.podSelector !== undefined && !selectorMatches(peer.podSelector, p.labels)) return { matched: false, why: `${desc}: pod labels ${formatSelector({ matchLabels: p.labels })} do not match` };
      return { matched: true, why: `${desc}: ${p.namespace}/${p.name} matches` };
    }
  }
}

function explainPort(index: PolicyIndex, port: ParsedPort, i: number, protocol: number, dstPort: number, dstPod: number): Check {
  const at = `port ${i} ${port.port ?? '(every port)'}${port.endPort !== undefined ? `-${port.endPort}` : ''}/${port.protocol}`;
  if (PROTOCOL_NUMBERS[port.protocol] !== protocol) return { matched: false, why: `${at}: another protocol` };
  if (port.port === undefined) return { matched: true, why: `${at}: matches` };
  if (typeof port.port === 'number') {
    const ok = dstPort >= port.port && dstPort <= (port.endPort ?? port.port);
    return { matched: ok, why: `${at}: ${dstPort} ${ok ? 'matches' : 'does not match'}` };
  }
  if (dstPod < 0) return { matched: false, why: `${at}: the destination is no pod, a named port resolves on nothing` };
  const pod = index.pods[dstPod];
  const found = pod.ports.find((pp) => pp.name === port.port && pp.protocol === port.protocol);
  if (!found) return { matched: false, why: `${at}: ${pod.namespace}/${pod.name} declares no ${port.protocol} container port named ${port.port}` };
  const ok = pod.ports.some((pp) => pp.name === port.port && pp.protocol === port.protocol && pp.port === dstPort);
  return { matched: ok, why: `${at}: resolves to ${found.port} on ${pod.namespace}/${pod.name}; ${dstPort} ${ok ? 'matches' : 'does not match'}` };
}

/** The explanation as text for a terminal. */
export function formatExplanation(e: Explanation): string {
  const lines = [`${e.from} → ${e.to} ${e.port}/${e.protocol}: ${e.verdict.toUpperCase()}`];
  const side = (title: string, s: SideExplanation, extra?: string) => {
    if (!s.pod) lines.push(`${title}: not a pod, no policy applies`);
    else if (!s.isolated) lines.push(`${title}: ${s.pod} is not isolated (no policy selects it for ${title})`);
    else lines.push(`${title}: ${s.pod} is isolated by ${s.policies.map((p) => p.policy).join(', ')}`);
    if (extra) lines.push(`  ${extra}`);
    for (const p of s.policies) {
      lines.push(`  policy ${p.policy}: ${p.allows ? 'allows' : 'does not allow'}${p.rules.length === 0 ? ' (no rules: denies all)' : ''}`);
      for (const r of p.rules) {
        lines.push(`    rule ${r.index}: ${r.matched ? 'MATCHES' : 'no match'}${r.invalid ? ` (invalid, allows nothing: ${r.invalid})` : ''}`);
        for (const c of [...r.peers, ...r.ports]) lines.push(`      ${c.matched ? '✓' : '✗'} ${c.why}`);
      }
    }
  };
  side('egress', e.egress);
  side('ingress', e.ingress, e.ingress.fromOwnNode ? 'the source is the pod\'s own node: allowed whatever the policies say' : undefined);
  return lines.join('\n');
}
