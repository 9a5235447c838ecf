// Addresses as text at the control plane's edges: what parses, what is refused, and the
// canonical forms we print (RFC 5952 for IPv6).
import { describe, expect, it } from 'vitest';
import { isMulticastMac } from '../packet/ethernet.js';
import { formatIpv4, formatIpv6, formatMappedIp, parseIpv4, parseIpv6 } from './ip-text.js';
import { formatMac, parseMac } from './mac-text.js';

describe('address text', () => {
  it('parses and formats IPv4', () => {
    for (const a of ['0.0.0.0', '10.244.1.2', '192.0.2.255', '255.255.255.255']) expect(formatIpv4(parseIpv4(a))).toBe(a);
    expect(parseIpv4('10.244.1.2')).toBe(0x0af40102);
    for (const bad of ['256.1.1.1', '01.2.3.4', '1.2.3', '1.2.3.4.5', '', 'a.b.c.d']) expect(() => parseIpv4(bad)).toThrow(/is not an IPv4 address/);
  });

  it('parses IPv6 and formats it canonically (RFC 5952)', () => {
    const cases: [string, string][] = [
      ['2001:db8::1', '2001:db8::1'],
      ['::', '::'],
      ['::1', '::1'],
      ['fd00:10:244::', 'fd00:10:244::'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['::ffff:192.0.2.1', '::ffff:c000:201'],
    ];
    for (const [text, canonical] of cases) expect(formatIpv6(parseIpv6(text), 0)).toBe(canonical);
    expect(parseIpv6('::ffff:192.0.2.1').subarray(10)).toEqual(Buffer.from([0xff, 0xff, 192, 0, 2, 1]));
    for (const bad of ['2001:db8:::1', 'fe80::1%eth0', '10.244.1.2', '']) expect(() => parseIpv6(bad), bad).toThrow(/is not an IPv6 address/);
  });

  it('formats IPv4-mapped addresses as IPv4 and the rest as IPv6', () => {
    expect(formatMappedIp(parseIpv6('::ffff:10.244.1.2'))).toBe('10.244.1.2');
    expect(formatMappedIp(parseIpv6('fd00:10:244:1::2'))).toBe('fd00:10:244:1::2');
  });

  it('parses MACs and rejects anything else', () => {
    expect(parseMac('0A:58:c0:00:02:01')).toEqual(Buffer.from([0x0a, 0x58, 0xc0, 0, 2, 1]));
    expect(formatMac(parseMac('0A:58:c0:00:02:01'))).toBe('0a:58:c0:00:02:01');
    expect(isMulticastMac(parseMac('01:00:5e:00:00:01'))).toBe(true);
    expect(isMulticastMac(parseMac('0a:58:c0:00:02:01'))).toBe(false);
    for (const bad of ['0a:58:c0:00:02', '0a-58-c0-00-02-01', 'zz:58:c0:00:02:01', '']) expect(() => parseMac(bad)).toThrow(/is not a MAC address/);
  });
});
