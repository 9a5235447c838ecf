// The static subnet table: a JSON file, the embedded default that needs no cluster.
//   {"network":"10.244.0.0/16","nodes":[{"name":"n1","podCIDR":"10.244.1.0/24",
//     "publicIP":"192.0.2.1","vtepMAC":"0a:58:0a:f4:01:00"}]}
import { readFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { ConfigError } from '../config-error.js';
import { isMulticastMac, parseMac } from '../packet/ethernet.js';
import { cidrContains, cidrOverlaps, parseCidr, type Cidr } from './cidr.js';
import type { NodeLease, SubnetTable } from './subnet-table.js';
import { vtepMacFromName } from './vtep-mac.js';

export async function readStaticTable(path: string): Promise<SubnetTable> {
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
  return parseStaticTable(json, path);
}

/** Validates the whole document; the first problem found is thrown as a ConfigError naming the field and node. */
export function parseStaticTable(json: unknown, source = 'subnets'): SubnetTable {
  if (!isObject(json)) throw new ConfigError(source, 'must be a JSON object with "network" and "nodes"');
  const network = cidrField(json.network, `${source}: network`);
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

    const podCIDR = cidrField(raw.podCIDR, `${field}.podCIDR`);
    if (podCIDR.family !== network.family || !cidrContains(network, podCIDR)) {
      throw new ConfigError(`${field}.podCIDR`, `${podCIDR.text} is not inside the network ${network.text}`);
    }
    const clash = nodes.find((n) => cidrOverlaps(n.podCIDR, podCIDR));
    if (clash) {
      throw new ConfigError(`${field}.podCIDR`, `${podCIDR.text} overlaps ${clash.podCIDR.text} of node "${clash.name}"`);
    }

    if (typeof raw.publicIP !== 'string' || !isIPv4(raw.publicIP)) {
      throw new ConfigError(`${field}.publicIP`, `${JSON.stringify(raw.publicIP)} is not an IPv4 address`);
    }
    const owner = publicIPs.get(raw.publicIP);
    if (owner !== undefined) {
      throw new ConfigError(`${field}.publicIP`, `${raw.publicIP} is also the address of node "${owner}"`);
    }
    publicIPs.set(raw.publicIP, name);

    let vtepMAC: Buffer;
    if (raw.vtepMAC === undefined) {
      vtepMAC = vtepMacFromName(name);
    } else {
      try {
        vtepMAC = parseMac(String(raw.vtepMAC));
      } catch (err) {
        throw new ConfigError(`${field}.vtepMAC`, (err as Error).message, { cause: err });
      }
      if (isMulticastMac(vtepMAC)) throw new ConfigError(`${field}.vtepMAC`, `${raw.vtepMAC} is a multicast MAC; a VTEP MAC must be unicast`);
    }
    nodes.push({ name, podCIDR, publicIP: raw.publicIP, vtepMAC });
  });

  nodes.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { network, nodes };
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
