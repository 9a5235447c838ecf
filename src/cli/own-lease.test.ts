import { describe, expect, it } from 'vitest';
import type { NodeLease } from '../subnets/subnet-table.js';
import { OwnLease } from './own-lease.js';

const lease = (mac: number, macV6 = mac): NodeLease => ({
  name: 'node-a', podCIDR: undefined, podCIDRv6: undefined, publicIP: '192.0.2.1', publicIPv6: undefined,
  vtepMAC: Buffer.from([0x0a, 0x58, 0, 0, 0, mac]), vtepMACv6: Buffer.from([0x0a, 0x58, 0, 0, 1, macV6]),
});

describe('OwnLease', () => {
  it('says a VTEP MAC changed once per change and keeps the newest lease', () => {
    const own = new OwnLease(lease(1));
    expect(own.take(lease(1))).toBe(false);
    expect(own.take(lease(2))).toBe(true);
    expect(own.current.vtepMAC).toEqual(lease(2).vtepMAC);
    expect(own.take(lease(2))).toBe(false); // the same change again: no second warning
    expect(own.take(lease(2, 3))).toBe(true); // IPv6's MAC alone
    expect(own.take(lease(1))).toBe(true); // back to the first is a change too
    expect(own.current.vtepMACv6).toEqual(lease(1).vtepMACv6);
  });
});
