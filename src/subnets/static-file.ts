// The static subnet table: a JSON file, the embedded default that needs no cluster.
//   {"network":"10.244.0.0/16","nodes":[{"name":"n1","podCIDR":"10.244.1.0/24",
//     "publicIP":"192.0.2.1","vtepMAC":"0a:58:0a:f4:01:00"}]}
// Dual-stack: "networks" and "podCIDRs" hold one prefix per family; "publicIPv6" and
// "vtepMACv6" are a node's IPv6 underlay address and its IPv6 VTEP MAC (flannel-v6.<VNI>'s).
// Switch mode needs only the peers: "network" and "podCIDR" become optional there.
import { formatIpv6, parseIpv6 } from '../address/ip-text.js';
import { parseMac } from '../address/mac-text.js';
import { readFile } from 'node:fs/promises';
import { isIPv4, isIPv6 } from 'node:net';
import { ConfigError } from '../config-error.js';
import { isMulticastMac } from '../packet/ethernet.js';
import { cidrContains, cidrOverlaps, parseCidr, type Cidr } from './cidr.js';
import type { NodeLease, SubnetTable } from './subnet-table.js';
import { vtepMacFromName } from './vtep-mac.js';

export interface StaticTableOptions {
  /** Switch mode: nodes need only a name and an underlay address. */
  peersOnly?: boolean;
}

export async function readStaticTable(path: string, opts: StaticTableOptions = {}): Promise<SubnetTable> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError('--subnets', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(path, `not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return parseStaticTable(json, path, opts);
}

/** Validates the whole document; the first problem found is thrown as a ConfigError naming the field and node. */
export function parseStaticTable(json: unknown, source = 'subnets', opts: StaticTableOptions = {}): SubnetTable {
  if (!isObject(json)) throw new ConfigError(source, 'must be a JSON object with "network" (or "networks") and "nodes"');
  const networks = perFamily(json.network, json.networks, `${source}: network`, 'networks');
  if (!networks.v4 && !networks.v6 && !opts.peersOnly) throw new ConfigError(`${source}: network`, 'is required: the cluster network, e.g. "10.244.0.0/16" (or "networks" with one per family)');
  if (!Array.isArray(json.nodes)) throw new ConfigError(`${source}: nodes`, 'must be an array of nodes');

  const nodes: NodeLease[] = [];
  const names = new Set<string>();
  const publicIPs = new Map<string, string>();
  json.nodes.forEach((raw: unknown, i: number) => {
    const at = `${source}: nodes[${i}]`;
    if (!isObject(raw)) throw new ConfigError(at, 'must be an object');
    if (typeof raw.name !== 'string' || raw.name === '') throw new ConfigError(`${at}.name`, 'must be a non-empty string');
    const name = raw.name;
    const field = `${at} ("${name}")`;
    if (names.has(name)) throw new ConfigError(`${field}.name`, 'appears twice; node names must be unique');
    names.add(name);

    const pods = perFamily(raw.podCIDR, raw.podCIDRs, `${field}.podCIDR`, 'podCIDRs');
    if (!pods.v4 && !pods.v6 && !opts.peersOnly) throw new ConfigError(`${field}.podCIDR`, 'is required: the node\'s pod subnet, e.g. "10.244.1.0/24" (or "podCIDRs")');
    for (const [podCIDR, network] of [[pods.v4, networks.v4], [pods.v6, networks.v6]] as const) {
      if (!podCIDR) continue;
      if (!network || !cidrContains(network, podCIDR)) {
        throw new ConfigError(`${field}.podCIDR`, `${podCIDR.text} is not inside the network ${network?.text ?? `(no IPv${podCIDR.family} network)`}`);
      }
      const clash = nodes.find((n) => [n.podCIDR, n.podCIDRv6].some((c) => c && cidrOverlaps(c, podCIDR)));
      if (clash) {
        const theirs = podCIDR.family === 4 ? clash.podCIDR! : clash.podCIDRv6!;
        throw new ConfigError(`${field}.podCIDR`, `${podCIDR.text} overlaps ${theirs.text} of node "${clash.name}"`);
      }
    }

    const publicIP = address(raw.publicIP, 4, `${field}.publicIP`);
    const publicIPv6 = address(raw.publicIPv6, 6, `${field}.publicIPv6`);
    if (publicIP === undefined && publicIPv6 === undefined) throw new ConfigError(`${field}.publicIP`, 'is required: the node\'s underlay address (publicIP, publicIPv6 or both)');
    for (const [ip, key] of [[publicIP, 'publicIP'], [publicIPv6, 'publicIPv6']] as const) {
      if (ip === undefined) continue;
      const owner = publicIPs.get(ip);
      if (owner !== undefined) throw new ConfigError(`${field}.${key}`, `${ip} is also the address of node "${owner}"`);
      publicIPs.set(ip, name);
    }
    nodes.push({
      name,
      podCIDR: pods.v4,
      podCIDRv6: pods.v6,
      publicIP,
      publicIPv6,
      vtepMAC: mac(raw.vtepMAC, `${field}.vtepMAC`) ?? vtepMacFromName(name),
      vtepMACv6: mac(raw.vtepMACv6, `${field}.vtepMACv6`) ?? vtepMacFromName(name, 6),
    });
  });

  nodes.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { network: networks.v4, networkV6: networks.v6, nodes };
}

/** A single prefix (`one`, either family) and/or a list (`many`) with at most one per family. */
function perFamily(one: unknown, many: unknown, field: string, manyKey: string): { v4: Cidr | undefined; v6: Cidr | undefined } {
  const out: { v4: Cidr | undefined; v6: Cidr | undefined } = { v4: undefined, v6: undefined };
  const listField = field.replace(/[^.:]+$/, manyKey);
  if (many !== undefined && (!Array.isArray(many) || many.length === 0)) throw new ConfigError(listField, 'must be a non-empty array of CIDR strings, one per family');
  const all = [...(one === undefined ? [] : [cidrField(one, field)]), ...((many as unknown[] | undefined) ?? []).map((c, k) => cidrField(c, `${listField}[${k}]`))];
  for (const c of all) {
    const key = c.family === 4 ? 'v4' : 'v6';
    if (out[key] && out[key].text !== c.text) throw new ConfigError(listField, `has two IPv${c.family} prefixes (${out[key].text}, ${c.text}); give at most one per family`);
    out[key] = c;
  }
  return out;
}

function address(value: unknown, family: 4 | 6, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !(family === 4 ? isIPv4(value) : isIPv6(value))) {
    throw new ConfigError(field, `${JSON.stringify(value)} is not an IPv${family} address`);
  }
  return family === 6 ? formatIpv6(parseIpv6(value), 0) : value;
}

function mac(value: unknown, field: string): Buffer | undefined {
  if (value === undefined) return undefined;
  let m: Buffer;
  try {
    m = parseMac(String(value));
  } catch (err) {
    throw new ConfigError(field, (err as Error).message, { cause: err });
  }
  if (isMulticastMac(m)) throw new ConfigError(field, `${String(value)} is a multicast MAC; a VTEP MAC must be unicast`);
  return m;
}

function cidrField(value: unknown, field: string): Cidr {
  if (typeof value !== 'string') throw new ConfigError(field, `must be a CIDR string like "10.244.0.0/16"`);
  try {
    return parseCidr(value);
  } catch (err) {
    throw new ConfigError(field, (err as Error).message, { cause: err });
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
