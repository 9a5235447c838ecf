// Bad flags and bad tables: exit code 2 and a message naming the field, before any device exists.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, NETWORK, type LabNode } from '../src/lab/lab.js';
import { tryInNs } from '../src/lab/netns.js';
import { cliPath } from '../src/lab/vxroute-process.js';

describe('vxroute run: invalid input', () => {
  let lab: Lab;
  let node: LabNode;
  beforeAll(async () => {
    lab = await Lab.create();
    node = await lab.addNode('vxroute', 0);
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  const n1 = { name: 'n1', podCIDR: '10.244.1.0/24', publicIP: '192.0.2.1', vtepMAC: '0a:58:c0:00:02:01' };
  const n2 = { name: 'n2', podCIDR: '10.244.2.0/24', publicIP: '192.0.2.2', vtepMAC: '0a:58:c0:00:02:02' };

  async function run(table: unknown, flags: string[] = []): Promise<{ code: number; stderr: string }> {
    const file = join(lab.dir, 'bad.json');
    await writeFile(file, typeof table === 'string' ? table : JSON.stringify(table));
    const r = await tryInNs(node.ns, process.execPath, [cliPath(), 'run', '--node-name', 'n1', '--subnets', file, '--metrics-addr', '', ...flags]);
    // Nothing was set up on the host.
    expect((await tryInNs(node.ns, 'ip', ['link', 'show', 'vxroute0'])).code).not.toBe(0);
    return r;
  }

  it.each([
    ['a bad CIDR', { network: NETWORK, nodes: [{ ...n1, podCIDR: '10.244.1.0/33' }] }, /nodes\[0\] \("n1"\)\.podCIDR: "10\.244\.1\.0\/33": prefix length 33/],
    ['host bits in a CIDR', { network: NETWORK, nodes: [{ ...n1, podCIDR: '10.244.1.7/24' }] }, /nodes\[0\] \("n1"\)\.podCIDR: .*host bits set/],
    ['overlapping CIDRs', { network: NETWORK, nodes: [n1, { ...n2, podCIDR: '10.244.1.128/25' }] }, /nodes\[1\] \("n2"\)\.podCIDR: 10\.244\.1\.128\/25 overlaps 10\.244\.1\.0\/24 of node "n1"/],
    ['a pod CIDR outside the network', { network: NETWORK, nodes: [{ ...n1, podCIDR: '10.245.1.0/24' }] }, /not inside the network 10\.244\.0\.0\/16/],
    ['a bad MAC', { network: NETWORK, nodes: [n1, { ...n2, vtepMAC: '0a:58:zz:00:00:01' }] }, /nodes\[1\] \("n2"\)\.vtepMAC: "0a:58:zz:00:00:01" is not a MAC address/],
    ['a multicast MAC', { network: NETWORK, nodes: [{ ...n1, vtepMAC: '01:00:5e:00:00:01' }] }, /\.vtepMAC: .*multicast/],
    ['an unknown own node', { network: NETWORK, nodes: [n2] }, /--node-name: "n1" is not a node of .* \(nodes: n2\)/],
    ['broken JSON', '{"network":', /not valid JSON/],
  ])('rejects %s with exit code 2', async (_what, table, message) => {
    const r = await run(table);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // one clear line, no stack trace
  });

  it.each([
    [['--port', '70000'], /--port: "70000" must be an integer from 1 to 65535/],
    [['--vni', 'x'], /--vni: "x" must be an integer/],
    [['--workers', '0'], /--workers: "0" must be an integer from 1 to 64/],
    [['--mtu', '1460'], /--mtu: 1460 must be at least 576 and leave room for VXLAN's 50-byte overhead on eth0 \(MTU 1500\); use at most 1450/],
    [['--iface', 'eth0'], /--iface: eth0 exists and is a veth device, not a TUN/],
    [['--bogus'], /arguments: Unknown option '--bogus'/],
  ])('rejects flags %j with exit code 2', async (flags, message) => {
    const r = await run({ network: NETWORK, nodes: [n1, n2] }, flags);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('prints its usage on --help', async () => {
    const r = await tryInNs(node.ns, process.execPath, [cliPath(), 'run', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: vxroute run \(--subnets FILE \| --kube\)/);
  });
});

describe('vxroute top and trace: invalid input and no daemon', () => {
  let lab: Lab;
  let node: LabNode;
  beforeAll(async () => {
    lab = await Lab.create();
    node = await lab.addNode('vxroute', 0); // no daemon runs here
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  it.each(['top', 'trace'])('%s: says that no daemon answers, and how to point it at one (exit 1)', async (command) => {
    const r = await tryInNs(node.ns, process.execPath, [cliPath(), command, '--addr', '127.0.0.1:9475', ...(command === 'top' ? ['--json'] : [])]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^vxroute ${command}: cannot reach vxroute at 127\\.0\\.0\\.1:9475 \\(ECONNREFUSED\\): is it running there\\? \\(--addr HOST:PORT; in Kubernetes, kubectl -n vxroute port-forward POD 9475\\)\\n$`));
  });

  it.each([
    [['top', '--addr', 'localhost'], /^vxroute: --addr: "localhost" must be HOST:PORT/],
    [['top', '--interval', '0'], /^vxroute: --interval: "0" must be a number of seconds from 0\.1 to 3600/],
    [['trace', '--count=0'], /^vxroute: --count: "0" must be a whole number of at least 1/],
    [['trace', '--count', 'x'], /^vxroute: --count: "x" must be a whole number of at least 1/],
    [['trace', '--bogus'], /^vxroute: arguments: Unknown option '--bogus'/],
  ])('rejects %j with exit code 2', async (args, message) => {
    const r = await tryInNs(node.ns, process.execPath, [cliPath(), ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it.each(['top', 'trace'])('%s --help prints its usage', async (command) => {
    const r = await tryInNs(node.ns, process.execPath, [cliPath(), command, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage: vxroute ${command} `));
  });
});
