import { describe, expect, it } from 'vitest';
import { ConfigError } from '../config-error.js';
import { parseStaticTable } from './static-file.js';
import { vtepMacFromName } from './vtep-mac.js';

const good = () => ({
  network: '10.244.0.0/16',
  nodes: [
    { name: 'n2', podCIDR: '10.244.2.0/24', publicIP: '192.0.2.2', vtepMAC: '0A:58:0A:F4:02:00' },
    { name: 'n1', podCIDR: '10.244.1.0/24', publicIP: '192.0.2.1' },
  ],
});

function problem(doc: unknown): ConfigError {
  try {
    parseStaticTable(doc, 'f.json');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('static subnet file', () => {
  it('parses, sorts by name and fills a stable MAC when absent', () => {
    const t = parseStaticTable(good());
    expect(t.network!.text).toBe('10.244.0.0/16');
    expect(t.nodes.map((n) => n.name)).toEqual(['n1', 'n2']);
    expect(t.nodes[1].vtepMAC.toString('hex')).toBe('0a580af40200');
    expect(t.nodes[0].vtepMAC.equals(vtepMacFromName('n1'))).toBe(true);
    expect(t.nodes[0].podCIDR!.prefixLen).toBe(24);
  });

  it('names the field and the node of each problem', () => {
    const cases: [(d: ReturnType<typeof good>) => void, RegExp][] = [
      [(d) => (d.network = '10.244.0.0/33'), /network: .*prefix length 33/],
      [(d) => (d.nodes[0].podCIDR = '10.244.2.1/24'), /nodes\[0\] \("n2"\)\.podCIDR: .*host bits set.*10\.244\.2\.0\/24/],
      [(d) => (d.nodes[0].podCIDR = 'banana'), /nodes\[0\] \("n2"\)\.podCIDR: "banana" is not a CIDR/],
      [(d) => (d.nodes[0].podCIDR = '10.245.2.0/24'), /nodes\[0\] \("n2"\)\.podCIDR: .*not inside the network/],
      [(d) => (d.nodes[1].podCIDR = '10.244.2.128/25'), /nodes\[1\] \("n1"\)\.podCIDR: .*overlaps 10\.244\.2\.0\/24 of node "n2"/],
      [(d) => (d.nodes[1].publicIP = '192.0.2.2'), /nodes\[1\] \("n1"\)\.publicIP: .*also the address of node "n2"/],
      [(d) => (d.nodes[1].publicIP = '192.0.2'), /nodes\[1\] \("n1"\)\.publicIP: "192\.0\.2" is not an IPv4/],
      [(d) => (d.nodes[0].vtepMAC = '0a:58:zz:00:00:00'), /nodes\[0\] \("n2"\)\.vtepMAC/],
      [(d) => (d.nodes[0].vtepMAC = '01:00:5e:00:00:01'), /nodes\[0\] \("n2"\)\.vtepMAC: .*multicast/],
      [(d) => (d.nodes[1].name = 'n2'), /nodes\[1\] \("n2"\)\.name: appears twice/],
      [(d) => (d.nodes[1].name = ''), /nodes\[1\]\.name: must be a non-empty string/],
    ];
    for (const [mutate, message] of cases) {
      const d = good();
      mutate(d);
      expect(problem(d).message).toMatch(message);
    }
    expect(problem([]).message).toMatch(/f\.json: must be a JSON object/);
    expect(problem({ network: '10.244.0.0/16' }).message).toMatch(/nodes: must be an array/);
  });

  it('reads dual-stack nodes: podCIDRs, publicIPv6 and vtepMACv6, each family on its own', () => {
    const t = parseStaticTable({
      networks: ['10.244.0.0/16', 'fd00:10:244::/56'],
      nodes: [
        { name: 'n1', podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'], publicIP: '192.0.2.1', publicIPv6: '2001:DB8::1', vtepMACv6: '0a:58:c0:00:06:01' },
        { name: 'n2', podCIDRs: ['fd00:10:244:2::/64'], publicIPv6: '2001:db8::2' },
      ],
    });
    expect([t.network?.text, t.networkV6?.text]).toEqual(['10.244.0.0/16', 'fd00:10:244::/56']);
    const [n1, n2] = t.nodes;
    expect([n1.podCIDR?.text, n1.podCIDRv6?.text, n1.publicIP, n1.publicIPv6]).toEqual(['10.244.1.0/24', 'fd00:10:244:1::/64', '192.0.2.1', '2001:db8::1']);
    expect(n1.vtepMACv6.toString('hex')).toBe('0a58c0000601');
    expect([n2.podCIDR, n2.publicIP, n2.podCIDRv6?.text]).toEqual([undefined, undefined, 'fd00:10:244:2::/64']);
    expect(n2.vtepMACv6.equals(vtepMacFromName('n2', 6))).toBe(true);
    expect(n2.vtepMACv6.equals(n2.vtepMAC)).toBe(false);
  });

  it('names the field of each dual-stack problem', () => {
    const v6 = (node: Record<string, unknown>, networks: unknown = ['10.244.0.0/16', 'fd00:10:244::/56']) => ({ networks, nodes: [{ name: 'n1', ...node }] });
    expect(problem(v6({ podCIDRs: ['10.244.1.0/24', '10.244.2.0/24'], publicIP: '192.0.2.1' })).message).toMatch(/nodes\[0\] \("n1"\)\.podCIDRs: has two IPv4 prefixes/);
    expect(problem(v6({ podCIDRs: ['fd00:10:245::/64'], publicIPv6: '2001:db8::1' })).message).toMatch(/podCIDR: fd00:10:245::\/64 is not inside the network fd00:10:244::\/56/);
    expect(problem(v6({ podCIDRs: ['fd00:10:244:1::/64'], publicIPv6: '2001:db8::1' }, ['10.244.0.0/16'])).message).toMatch(/not inside the network \(no IPv6 network\)/);
    expect(problem(v6({ podCIDRs: ['10.244.1.0/24'], publicIPv6: '192.0.2.1' })).message).toMatch(/publicIPv6: "192\.0\.2\.1" is not an IPv6 address/);
    expect(problem(v6({ podCIDRs: ['10.244.1.0/24'] })).message).toMatch(/publicIP: is required: .*publicIP, publicIPv6 or both/);
    expect(problem(v6({ publicIP: '192.0.2.1' })).message).toMatch(/podCIDR: is required/);
    expect(problem({ nodes: [] }).message).toMatch(/network: is required/);
  });

  it('needs only names and underlay addresses for switch mode\'s peers', () => {
    const t = parseStaticTable({ nodes: [{ name: 'b', publicIP: '192.0.2.2' }, { name: 'a', publicIPv6: '2001:db8::1' }] }, 'peers.json', { peersOnly: true });
    expect(t.network).toBeUndefined();
    expect(t.nodes.map((n) => [n.name, n.publicIP, n.publicIPv6, n.podCIDR])).toEqual([['a', undefined, '2001:db8::1', undefined], ['b', '192.0.2.2', undefined, undefined]]);
    expect(() => parseStaticTable({ nodes: [{ name: 'b', publicIP: '192.0.2.2' }] }, 'peers.json')).toThrow(/network: is required/);
    expect(() => parseStaticTable({ nodes: [{ name: 'b' }] }, 'peers.json', { peersOnly: true })).toThrow(/publicIP: is required/);
  });
});
