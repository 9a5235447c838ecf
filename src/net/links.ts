// What the host knows about its links and addresses.
import { ipJson } from './ip-command.js';

interface IpLink {
  ifname: string;
  mtu: number;
  link_type?: string;
  linkinfo?: { info_kind?: string; info_data?: { type?: string } };
  /** The bridge (or bond) it is a port of. */
  master?: string;
}

interface IpAddr extends IpLink {
  addr_info: { family: string; local: string; prefixlen: number }[];
}

/** The link called `name`, or undefined. */
export async function findLink(name: string): Promise<IpLink | undefined> {
  const links = await ipJson<IpLink>(['-d', 'link', 'show']);
  return links.find((l) => l.ifname === name);
}

/** The link that holds the local address `address`, or undefined when no link does. */
export async function linkWithAddress(address: string): Promise<IpLink | undefined> {
  const links = await ipJson<IpAddr>(['addr', 'show']);
  return links.find((l) => l.addr_info.some((a) => a.local === address));
}
