// A stable VTEP MAC for a node that has none configured.
import { createHash } from 'node:crypto';

/**
 * Derives a locally administered unicast MAC (IEEE 802: U/L bit set, I/G bit clear) from the node
 * name, so that the same node keeps the same MAC across restarts without storing it.
 */
export function vtepMacFromName(name: string, family: 4 | 6 = 4): Buffer {
  const digest = createHash('sha256').update(`vxroute/${family}/${name}`).digest();
  const mac = Buffer.from(digest.subarray(0, 6));
  mac[0] = (mac[0] & 0xfc) | 0x02;
  return mac;
}
