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
});
