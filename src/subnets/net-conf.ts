// flannel's net-conf.json (the kube-flannel ConfigMap; flannel pkg/subnet/config.go and the
// vxlan backend's VXLANConfig). Keys match case-insensitively, as Go's encoding/json does.
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../config-error.js';
import { DEFAULT_VNI, VXLAN_PORT } from '../packet/constants.js';
import { parseCidr, type Cidr } from './cidr.js';

export interface NetConf {
  network: Cidr;
  vni: number;
  port: number;
  /** Backend.MTU when set: the overlay MTU flannel would give flannel.1. */
  mtu: number | undefined;
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
  if (field(json, 'EnableIPv6') === true) throw new ConfigError(`${source}: EnableIPv6`, 'IPv6 pod networks are not supported yet; set it to false');
  if (field(json, 'EnableIPv4') === false) throw new ConfigError(`${source}: EnableIPv4`, 'vxroute needs the IPv4 network; set it to true or leave it out');
  const networkText = field(json, 'Network');
  if (typeof networkText !== 'string') throw new ConfigError(`${source}: Network`, 'is required, e.g. "10.244.0.0/16"');
  let network: Cidr;
  try {
    network = parseCidr(networkText);
  } catch (err) {
    throw new ConfigError(`${source}: Network`, (err as Error).message, { cause: err });
  }
  if (network.family !== 4) throw new ConfigError(`${source}: Network`, `${network.text} is not IPv4`);

  const backend = field(json, 'Backend') ?? {};
  if (!isObject(backend)) throw new ConfigError(`${source}: Backend`, 'must be an object like {"Type": "vxlan"}');
  const type = field(backend, 'Type');
  if (type !== 'vxlan') {
    throw new ConfigError(`${source}: Backend.Type`, `${JSON.stringify(type ?? 'udp')} is not supported: vxroute speaks flannel's "vxlan" backend`);
  }
  for (const unsupported of ['GBP', 'DirectRouting']) {
    if (field(backend, unsupported) === true) throw new ConfigError(`${source}: Backend.${unsupported}`, 'is not supported by vxroute; set it to false');
  }
  return {
    network,
    vni: integer(backend, 'VNI', 0, 0xffffff, source) ?? DEFAULT_VNI,
    // 0 is Go's zero value: the kernel then uses its default port, and flannel the device's MTU.
    port: integer(backend, 'Port', 0, 65535, source) || VXLAN_PORT,
    mtu: integer(backend, 'MTU', 0, 65535, source) || undefined,
  };
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
