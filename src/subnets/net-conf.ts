// flannel's net-conf.json (the kube-flannel ConfigMap; flannel pkg/subnet/config.go and the
// vxlan backend's VXLANConfig). Keys match case-insensitively, as Go's encoding/json does.
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../config-error.js';
import { DEFAULT_VNI, VXLAN_PORT } from '../packet/constants.js';
import { parseCidr, type Cidr } from './cidr.js';

export interface NetConf {
  /** The IPv4 cluster network (EnableIPv4, the default), the IPv6 one (EnableIPv6 with IPv6Network). */
  network: Cidr | undefined;
  networkV6: Cidr | undefined;
  vni: number;
  port: number;
  /** Backend.MTU when set: the overlay MTU flannel would give flannel.1. */
  mtu: number | undefined;
  /** Backend.DirectRouting: peers on our underlay subnet get a plain kernel route instead of VXLAN. */
  directRouting: boolean;
}

export async function readNetConf(path: string): Promise<NetConf> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError('--net-conf', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(path, `not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return parseNetConf(json, path);
}

export function parseNetConf(json: unknown, source = 'net-conf.json'): NetConf {
  if (!isObject(json)) throw new ConfigError(source, 'must be a JSON object like {"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}');
  const enableIPv4 = field(json, 'EnableIPv4') ?? true;
  const enableIPv6 = field(json, 'EnableIPv6') ?? false;
  for (const [key, v] of [['EnableIPv4', enableIPv4], ['EnableIPv6', enableIPv6]] as const) {
    if (typeof v !== 'boolean') throw new ConfigError(`${source}: ${key}`, `${JSON.stringify(v)} must be true or false`);
  }
  if (!enableIPv4 && !enableIPv6) throw new ConfigError(`${source}: EnableIPv4`, 'and EnableIPv6 are both false: enable at least one family');
  const network = enableIPv4 ? networkField(json, 'Network', 4, '10.244.0.0/16', source) : undefined;
  const networkV6 = enableIPv6 ? networkField(json, 'IPv6Network', 6, 'fd00:10:244::/56', source) : undefined;

  const backend = field(json, 'Backend') ?? {};
  if (!isObject(backend)) throw new ConfigError(`${source}: Backend`, 'must be an object like {"Type": "vxlan"}');
  const type = field(backend, 'Type');
  if (type !== 'vxlan') {
    throw new ConfigError(`${source}: Backend.Type`, `${JSON.stringify(type ?? 'udp')} is not supported: vxroute speaks flannel's "vxlan" backend`);
  }
  if (field(backend, 'GBP') === true) throw new ConfigError(`${source}: Backend.GBP`, 'is not supported by vxroute; set it to false');
  const directRouting = field(backend, 'DirectRouting') ?? false;
  if (typeof directRouting !== 'boolean') throw new ConfigError(`${source}: Backend.DirectRouting`, `${JSON.stringify(directRouting)} must be true or false`);
  return {
    network,
    networkV6,
    vni: integer(backend, 'VNI', 0, 0xffffff, source) ?? DEFAULT_VNI,
    // 0 is Go's zero value: the kernel then uses its default port, and flannel the device's MTU.
    port: integer(backend, 'Port', 0, 65535, source) || VXLAN_PORT,
    mtu: integer(backend, 'MTU', 0, 65535, source) || undefined,
    directRouting,
  };
}

function networkField(json: Record<string, unknown>, key: string, family: 4 | 6, example: string, source: string): Cidr {
  const text = field(json, key);
  if (typeof text !== 'string') throw new ConfigError(`${source}: ${key}`, `is required when IPv${family} is enabled, e.g. "${example}"`);
  let cidr: Cidr;
  try {
    cidr = parseCidr(text);
  } catch (err) {
    throw new ConfigError(`${source}: ${key}`, (err as Error).message, { cause: err });
  }
  if (cidr.family !== family) throw new ConfigError(`${source}: ${key}`, `${cidr.text} is not IPv${family}`);
  return cidr;
}

function integer(obj: Record<string, unknown>, key: string, min: number, max: number, source: string): number | undefined {
  const v = field(obj, key);
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(`${source}: Backend.${key}`, `${JSON.stringify(v)} must be an integer from ${min} to ${max}`);
  }
  return v;
}

function field(obj: Record<string, unknown>, key: string): unknown {
  const lower = key.toLowerCase();
  return Object.entries(obj).find(([k]) => k.toLowerCase() === lower)?.[1];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
