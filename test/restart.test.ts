// The daemon's life cycle on a host: kill -9 and start again, a second copy, SIGTERM cleanup,
// and table reloads (SIGHUP, file change, a bad file) while traffic flows.
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { tryInNs } from '../src/lab/netns.js';
import { ping } from '../src/lab/traffic.js';
import { cliPath, type VxrouteProcess } from '../src/lab/vxroute-process.js';

/** What vxroute left on the node: the cluster routes and the device's IPv4 addresses. */
async function hostState(node: LabNode): Promise<{ device: boolean; routes: string[]; addresses: string[] }> {
  const link = await tryInNs(node.ns, 'ip', ['link', 'show', 'vxroute0']);
  const routes = (await tryInNs(node.ns, 'ip', ['-4', 'route', 'show', '10.244.0.0/16'])).stdout.trim();
  const addrs = (await tryInNs(node.ns, 'ip', ['-4', '-o', 'addr', 'show', 'dev', 'vxroute0'])).stdout.trim();
  return {
    device: link.code === 0,
    routes: routes ? routes.split('\n') : [],
    addresses: addrs ? addrs.split('\n').map((l) => l.split(/\s+/)[3]) : [],
  };
}

describe('restart and cleanup', () => {
  let lab: Lab;
  let ours: LabNode;
  let kernel: LabNode;
  let subnets: string;

  beforeAll(async () => {
    lab = await Lab.create();
    ours = await lab.addNode('vxroute');
    kernel = await lab.addNode('kernel');
    await lab.programKernelPeers();
    subnets = await lab.writeSubnets();
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  const reachable = async (): Promise<number> => (await ping(ours.pods[0].ns, kernel.pods[0].ip, 2, 0.05)).received;

  it('converges after kill -9 and removes its device and route on SIGTERM', async () => {
    let d = await lab.startVxroute(ours, subnets);
    expect(await reachable()).toBe(2);
    d.kill();
    expect((await d.exited).signal).toBe('SIGKILL');
    d = await lab.startVxroute(ours, subnets);
    expect(await reachable()).toBe(2);
    expect(await hostState(ours)).toEqual({ device: true, routes: ['10.244.0.0/16 dev vxroute0 scope link'], addresses: ['10.244.1.0/32'] });
    expect(await d.stop()).toEqual({ code: 0, signal: null });
    expect(await hostState(ours)).toEqual({ device: false, routes: [], addresses: [] });
  });

  it('adopts an existing TUN device, converges after kill -9, and leaves the device on SIGTERM', async () => {
    await tryInNs(ours.ns, 'ip', ['tuntap', 'add', 'dev', 'vxroute0', 'mode', 'tun', 'multi_queue']);
    try {
      let d = await lab.startVxroute(ours, subnets);
      expect(d.logs.find((l) => l.msg === 'ready')).toMatchObject({ adopted: true });
      d.kill();
      await d.exited;
      // The persistent device keeps what the killed daemon configured; a restart must not duplicate it.
      expect((await hostState(ours)).routes).toHaveLength(1);
      d = await lab.startVxroute(ours, subnets);
      expect(await reachable()).toBe(2);
      expect(await hostState(ours)).toEqual({ device: true, routes: ['10.244.0.0/16 dev vxroute0 scope link'], addresses: ['10.244.1.0/32'] });
      expect(await d.stop()).toEqual({ code: 0, signal: null });
      expect(await hostState(ours)).toEqual({ device: true, routes: [], addresses: [] });
    } finally {
      await tryInNs(ours.ns, 'ip', ['tuntap', 'del', 'dev', 'vxroute0', 'mode', 'tun', 'multi_queue']);
    }
  });

  it('refuses a second daemon on the same device, and the first keeps forwarding', async () => {
    const d = await lab.startVxroute(ours, subnets);
    try {
      const second = await tryInNs(ours.ns, process.execPath, [cliPath(), 'run', '--node-name', ours.name, '--subnets', subnets, '--metrics-addr', '']);
      expect(second.code).toBe(2);
      expect(second.stderr).toMatch(/--iface: another vxroute is already running on vxroute0/);
      expect(await reachable()).toBe(2);
    } finally {
      await d.stop();
    }
  });
});

describe('table reloads', () => {
  let lab: Lab;
  let ours: LabNode;
  let n2: LabNode;
  let n3: LabNode;
  let subnets: string;
  let daemon: VxrouteProcess;

  beforeAll(async () => {
    lab = await Lab.create();
    ours = await lab.addNode('vxroute');
    n2 = await lab.addNode('kernel');
    n3 = await lab.addNode('kernel');
    await lab.programKernelPeers();
    subnets = await lab.writeSubnets([ours, n2]);
    daemon = await lab.startVxroute(ours, subnets);
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  const pings = async (to: LabNode): Promise<number> => (await ping(ours.pods[0].ns, to.pods[0].ip, 2, 0.05)).received;
  const loadedWith = (nodes: number, from: number, why?: string) =>
    daemon.waitForLog((l) => l.msg === 'table loaded' && l.nodes === nodes && (why === undefined || l.why === why), 10_000, from);
  /** Each test starts from the table it needs, whatever the tests before it left. */
  const useTable = async (nodes: LabNode[]): Promise<void> => {
    const from = daemon.logs.length;
    await lab.writeSubnets(nodes);
    await loadedWith(nodes.length, from, 'file changed');
  };

  it('adds a node on a file change, and on SIGHUP', async () => {
    await useTable([ours, n2]);
    expect(await pings(n2)).toBe(2);
    expect(await pings(n3)).toBe(0);
    const from = daemon.logs.length;
    await lab.writeSubnets([ours, n2, n3]);
    await loadedWith(3, from);
    expect(await pings(n3)).toBe(2);
    const fromHup = daemon.logs.length;
    daemon.signal('SIGHUP');
    await loadedWith(3, fromHup, 'SIGHUP');
    expect(await pings(n3)).toBe(2);
  });

  it('loses no packet while the table is reloaded', async () => {
    await useTable([ours, n2, n3]);
    const sentTo = async (n: LabNode): Promise<number> => (await daemon.counters()).peers.find((p) => p.name === n.name)!.txPackets;
    const idle = await sentTo(n3);
    let flowing = true;
    const flow = ping(ours.pods[0].ns, n3.pods[0].ip, 2000, 0.005).finally(() => (flowing = false));
    // Once the echoes flow, five reloads one after the other, well inside the flow's 10 s.
    await vi.waitFor(async () => expect(await sentTo(n3)).toBeGreaterThan(idle), { timeout: 30_000 });
    for (let i = 0; i < 5; i++) {
      const from = daemon.logs.length;
      daemon.signal('SIGHUP');
      await loadedWith(3, from, 'SIGHUP');
    }
    expect(flowing, 'the echoes ended before the last reload').toBe(true);
    const r = await flow;
    expect(r.transmitted).toBe(2000);
    expect(r.received).toBe(2000);
  });

  it('removes a node: its traffic is dropped as no_route, the rest flows', async () => {
    const noRouteBefore = (await daemon.counters()).drops.no_route;
    const from = daemon.logs.length;
    await lab.writeSubnets([ours, n3]);
    daemon.signal('SIGHUP');
    await loadedWith(2, from);
    const r = await tryInNs(ours.pods[0].ns, 'ping', ['-n', '-c', '2', '-i', '0.05', '-W', '1', n2.pods[0].ip]);
    expect(r.stdout).toMatch(/2 packets transmitted, 0 received, \+2 errors/);
    expect((await daemon.counters()).drops.no_route).toBe(noRouteBefore + 2);
    expect(await pings(n3)).toBe(2);
  });

  it('keeps forwarding on the last good table when the file turns bad', async () => {
    await useTable([ours, n3]);
    const from = daemon.logs.length;
    await writeFile(subnets, '{"network": "10.244.0.0/16", "nodes": [');
    daemon.signal('SIGHUP');
    const err = await daemon.waitForLog((l) => l.msg.startsWith('table not reloaded'), 10_000, from);
    expect(JSON.stringify(err)).toMatch(/not valid JSON/);
    expect(await pings(n3)).toBe(2);
    expect(daemon.logs.slice(daemon.logs.indexOf(err)).some((l) => l.msg === 'table loaded')).toBe(false);
  });
});
