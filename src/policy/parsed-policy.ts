// A V1NetworkPolicy checked as the API server checks it (networking/v1 validation) and put in
// the form both the reference semantics and the compiler read. Invalid parts FAIL CLOSED:
// - an invalid rule (any bad peer or port in it) allows nothing; the rest of its policy stands;
// - an invalid spec.podSelector makes the policy select every pod of its namespace;
// - an unknown policyTypes value makes the policy isolate both directions;
// so an invalid policy can take traffic away, never add any. Each problem names its field.
import type { V1LabelSelector, V1NetworkPolicy, V1NetworkPolicyPeer, V1NetworkPolicyPort } from '@kubernetes/client-node';
import { selectorProblems, type FieldProblem } from './label-selector.js';
import { parsePrefix, prefixStrictlyInside, type MappedPrefix } from './mapped-address.js';
import type { PolicyProtocol } from './world.js';

export type Direction = 'ingress' | 'egress';

/** What the caller logs: "policy x/deny-all: spec.ingress[0].ports[1].endPort: must be ≥ port". */
export interface PolicyProblem extends FieldProblem {
  /** "namespace/name" */
  policy: string;
}

export type ParsedPeer =
  | {
      kind: 'pods';
      /** Absent: every pod of the selected namespaces. */
      podSelector: V1LabelSelector | undefined;
      /** Absent: the policy's own namespace; {}: every namespace. */
      namespaceSelector: V1LabelSelector | undefined;
    }
  | { kind: 'ipBlock'; cidr: MappedPrefix; cidrText: string; except: MappedPrefix[]; exceptText: string[] }
  /** What the API server would reject; its rule is invalid and allows nothing. */
  | { kind: 'invalid' };

export interface ParsedPort {
  protocol: PolicyProtocol;
  /** Undefined: every port of the protocol. */
  port: number | string | undefined;
  /** Only with a numeric port: the range's inclusive end. */
  endPort: number | undefined;
}

export interface ParsedRule {
  index: number;
  /** Undefined: from/to absent or empty, every source/destination. */
  peers: ParsedPeer[] | undefined;
  /** Undefined: ports absent or empty, every port and protocol. */
  ports: ParsedPort[] | undefined;
  /** An invalid rule allows nothing. */
  valid: boolean;
}

export interface ParsedPolicy {
  index: number;
  namespace: string;
  name: string;
  /** Undefined when invalid: then it selects every pod of its namespace. */
  podSelector: V1LabelSelector | undefined;
  isolates: Record<Direction, boolean>;
  rules: Record<Direction, ParsedRule[]>;
  problems: PolicyProblem[];
}

const PROTOCOLS: ReadonlySet<string> = new Set(['TCP', 'UDP', 'SCTP']);
// IANA_SVC_NAME (RFC 6335 §5.1): 1-15 lowercase alphanumerics and '-', a letter somewhere,
// no '-' at either end, no '--'.
const SVC_NAME = /^(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/;

export function parsePolicy(np: V1NetworkPolicy, index: number): ParsedPolicy {
  const namespace = np.metadata?.namespace ?? 'default';
  const name = np.metadata?.name ?? '';
  const problems: PolicyProblem[] = [];
  const report = (field: string, problem: string) => problems.push({ policy: `${namespace}/${name}`, field, problem });
  const spec = np.spec ?? {};

  let podSelector: V1LabelSelector | undefined = spec.podSelector ?? {};
  const selProblems = selectorProblems(podSelector, 'spec.podSelector');
  for (const p of selProblems) report(p.field, `${p.problem} (the policy selects every pod of namespace ${namespace})`);
  if (selProblems.length > 0) podSelector = undefined;

  const rules = {
    ingress: parseRules(spec.ingress, 'ingress', 'from', report),
    egress: parseRules(spec.egress, 'egress', 'to', report),
  };

  // The API's default: Ingress always; Egress when the policy has egress rules.
  const isolates = { ingress: true, egress: Array.isArray(spec.egress) && spec.egress.length > 0 };
  if (spec.policyTypes !== undefined && spec.policyTypes !== null) {
    if (!Array.isArray(spec.policyTypes)) {
      report('spec.policyTypes', 'must be a list (the policy isolates both directions)');
      isolates.egress = true;
    } else {
      isolates.ingress = spec.policyTypes.includes('Ingress');
      isolates.egress = spec.policyTypes.includes('Egress');
      spec.policyTypes.forEach((t, i) => {
        if (t !== 'Ingress' && t !== 'Egress') {
          report(`spec.policyTypes[${i}]`, `"${String(t)}" is not Ingress or Egress (the policy isolates both directions)`);
          isolates.ingress = isolates.egress = true;
        }
      });
    }
  }
  return { index, namespace, name, podSelector, isolates, rules, problems };
}

type Report = (field: string, problem: string) => void;

function parseRules(raw: unknown, dir: Direction, peersField: 'from' | 'to', report: Report): ParsedRule[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    report(`spec.${dir}`, 'must be a list (no rule of this direction allows anything)');
    return [];
  }
  return raw.map((r: Record<string, unknown> | null, index): ParsedRule => {
    const field = `spec.${dir}[${index}]`;
    let valid = true;
    const bad: Report = (f, p) => {
      valid = false;
      report(f, `${p} (this rule allows nothing)`);
    };
    if (r === null || typeof r !== 'object') {
      bad(field, 'must be an object');
      return { index, peers: [], ports: [], valid };
    }
    // client-node's typed objects (what an informer yields) name `from` `_from`; plain JSON does not.
    const rawPeers = peersField === 'from' ? (r._from ?? r.from) : r.to;
    let peers: ParsedPeer[] | undefined;
    if (rawPeers !== undefined && rawPeers !== null) {
      if (!Array.isArray(rawPeers)) bad(`${field}.${peersField}`, 'must be a list');
      else if (rawPeers.length > 0) peers = rawPeers.map((p, i) => parsePeer(p, `${field}.${peersField}[${i}]`, bad));
    }
    const rawPorts = r.ports;
    let ports: ParsedPort[] | undefined;
    if (rawPorts !== undefined && rawPorts !== null) {
      if (!Array.isArray(rawPorts)) bad(`${field}.ports`, 'must be a list');
      else if (rawPorts.length > 0) ports = rawPorts.map((p, i) => parsePort(p, `${field}.ports[${i}]`, bad));
    }
    return { index, peers, ports, valid };
  });
}

function parsePeer(p: V1NetworkPolicyPeer, field: string, bad: Report): ParsedPeer {
  const none: ParsedPeer = { kind: 'invalid' };
  if (p === null || typeof p !== 'object') {
    bad(field, 'must be an object');
    return none;
  }
  if (p.ipBlock !== undefined && p.ipBlock !== null) {
    if (p.podSelector !== undefined || p.namespaceSelector !== undefined) bad(field, 'ipBlock cannot be combined with podSelector or namespaceSelector');
    const cidr = parsePrefix(p.ipBlock.cidr);
    if (!cidr) {
      bad(`${field}.ipBlock.cidr`, `"${String(p.ipBlock.cidr)}" is not a valid CIDR`);
      return none;
    }
    const except: MappedPrefix[] = [];
    const exceptText: string[] = [];
    const rawExcept = p.ipBlock.except ?? [];
    if (!Array.isArray(rawExcept)) bad(`${field}.ipBlock.except`, 'must be a list');
    else {
      rawExcept.forEach((text, i) => {
        const e = parsePrefix(text);
        if (!e) bad(`${field}.ipBlock.except[${i}]`, `"${String(text)}" is not a valid CIDR`);
        else if (!prefixStrictlyInside(e, cidr)) bad(`${field}.ipBlock.except[${i}]`, `"${text}" must be a strict subset of cidr ${p.ipBlock!.cidr}`);
        else {
          except.push(e);
          exceptText.push(text);
        }
      });
    }
    return { kind: 'ipBlock', cidr, cidrText: p.ipBlock.cidr, except, exceptText };
  }
  if (p.podSelector === undefined && p.namespaceSelector === undefined) {
    bad(field, 'must specify podSelector, namespaceSelector or ipBlock');
    return none;
  }
  for (const key of ['podSelector', 'namespaceSelector'] as const) {
    const sel = p[key];
    if (sel !== undefined) for (const sp of selectorProblems(sel, `${field}.${key}`)) bad(sp.field, sp.problem);
  }
  return { kind: 'pods', podSelector: p.podSelector, namespaceSelector: p.namespaceSelector };
}

function parsePort(p: V1NetworkPolicyPort, field: string, bad: Report): ParsedPort {
  if (p === null || typeof p !== 'object') {
    bad(field, 'must be an object');
    return { protocol: 'TCP', port: undefined, endPort: undefined };
  }
  const protocol = p.protocol ?? 'TCP'; // the API's default
  if (!PROTOCOLS.has(protocol)) bad(`${field}.protocol`, `"${String(protocol)}" is not TCP, UDP or SCTP`);
  const port = p.port;
  if (typeof port === 'number') {
    if (!Number.isInteger(port) || port < 1 || port > 65535) bad(`${field}.port`, `${port} is not a port number (1-65535)`);
  } else if (typeof port === 'string') {
    if (!SVC_NAME.test(port)) bad(`${field}.port`, `"${port}" is not a port name (1-15 lowercase alphanumerics and '-', with a letter)`);
  } else if (port !== undefined && port !== null) bad(`${field}.port`, 'must be a number or a name');
  const endPort = p.endPort ?? undefined;
  if (endPort !== undefined) {
    if (typeof port !== 'number') bad(`${field}.endPort`, 'needs a numeric port');
    else if (!Number.isInteger(endPort) || endPort > 65535) bad(`${field}.endPort`, `${endPort} is not a port number (1-65535)`);
    else if (endPort < port) bad(`${field}.endPort`, `${endPort} must be greater than or equal to port ${port}`);
  }
  return { protocol: protocol as PolicyProtocol, port: port ?? undefined, endPort };
}
