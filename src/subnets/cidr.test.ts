import { describe, expect, it } from 'vitest';
import { cidrContains, cidrOverlaps, parseCidr } from './cidr.js';

describe('CIDR', () => {
  it('parses both families into canonical text', () => {
    expect(parseCidr('10.244.1.0/24')).toMatchObject({ family: 4, prefixLen: 24, text: '10.244.1.0/24' });
    expect(parseCidr('fd00:10:244:0001::/64')).toMatchObject({ family: 6, prefixLen: 64, text: 'fd00:10:244:1::/64' });
    expect(parseCidr('0.0.0.0/0').addr.toString('hex')).toBe('00000000');
  });

  it('rejects what is not a network prefix', () => {
    for (const bad of ['10.244.1.0', '10.244.1.0/', '10.244.1.0/x', '10.244.1.256/24', '10.244.1.1/24', 'fd00::1/64', '::/129']) {
      expect(() => parseCidr(bad), bad).toThrow(bad);
    }
  });

  it('knows overlap and containment', () => {
    const net = parseCidr('10.244.0.0/16');
    expect(cidrContains(net, parseCidr('10.244.7.0/24'))).toBe(true);
    expect(cidrContains(net, parseCidr('10.245.7.0/24'))).toBe(false);
    expect(cidrContains(parseCidr('10.244.7.0/24'), net)).toBe(false);
    expect(cidrOverlaps(parseCidr('10.244.0.0/23'), parseCidr('10.244.1.0/24'))).toBe(true);
    expect(cidrOverlaps(parseCidr('10.244.0.0/24'), parseCidr('10.244.1.0/24'))).toBe(false);
    expect(cidrOverlaps(parseCidr('10.244.0.0/16'), parseCidr('fd00::/8'))).toBe(false);
  });
});
