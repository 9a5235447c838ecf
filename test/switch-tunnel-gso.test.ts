// Switch mode's tunnel-GSO send path (Linux 6.16+): a pod's TCP frames in the node's bridge,
// read from the TAP as TSO packets, leave as runs of segments in ONE frame each through the
// egress TAP (`vxroute0-out`), as in router mode (test/tunnel-gso-send.test.ts). One Ethernet
// segment across a vxroute switch node, a kernel node (vxlan0 in its bridge) and a second
// vxroute switch node, over the IPv4 underlay (the lab's segment is IPv4-only); inner IPv4 and
// IPv6 TCP. `--send-path cut` opens no TAP; a FORWARD chain that drops the frames turns the
// path off at run time and the stream completes; after exit no TAP, no table of ours, no sysctl changed
// (docs/decisions.md, "Switch mode sends a pod's TCP runs as tunnel-GSO frames").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { inNs, tryInNs } from '../src/lab/netns.js';
import { tcpTransfer } from '../src/lab/traffic.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';
import { expectSwitchBackOnForwardDrop } from './forward-drop.js';

const MiB = 1 << 20;
const BYTES = 8 * MiB;
const TAP = 'vxroute0-out';
const TABLE = 'vxroute_tunnel_gso';
const SYSCTLS = ['net.ipv4.conf.all.rp_filter', 'net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding', 'net.ipv4.conf.all.accept_local'];

describe('switch mode: tunnel-GSO send path (root, namespaces, Linux 6.16+)', () => {
  let lab: Lab;
  let ours: LabNode;
  let kernel: LabNode;
  let peer: LabNode;
  let subnets: string;
  let daemon: VxrouteProcess;
  const tunnel = async () => {
    const t = (await daemon.counters()).udp.find((f) => f.family === 4)?.tunnelGso;
    return t ?? { frames: 0, segments: 0, fallbacks: 0, unfit: 0 };
  };
  /** Our node's switch-mode daemon, started again with `args`. */
  const restart = async (args: string[] = []) => {
    await daemon?.stop();
    daemon = await lab.startVxroute(ours, subnets, ['--mode', 'switch', '--workers', '1', ...args]);
    return daemon;
  };

  beforeAll(async () => {
    lab = await Lab.create({ underlay: [4], pods: [4, 6], segment: true });
    ours = await lab.addNode('vxroute');
    kernel = await lab.addNode('kernel');
    peer = await lab.addNode('vxroute');
    await lab.programKernelPeers();
    subnets = await lab.writeSubnets();
    await lab.startVxroute(peer, subnets, ['--mode', 'switch', '--workers', '1']);
    await restart();
    await lab.ipv6Settled();
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  it('says so in the ready line: the IPv4 underlay sends tunnel-GSO frames', async () => {
    const ready = await daemon.waitForLog((l) => l.msg === 'ready');
    expect(ready).toMatchObject({ mode: 'switch', sendPath: { v4: 'tunnel-gso' } });
    expect(await inNs(ours.ns, 'ip', ['-o', 'link', 'show', TAP])).toContain(TAP);
  });

  const cases = [
    ['a kernel VXLAN switch node', 4],
    ['a kernel VXLAN switch node', 6],
    ['a vxroute switch node', 4],
    ['a vxroute switch node', 6],
  ] as const;
  it.each(cases)('sends bulk TCP to a pod behind %s (inner IPv%i) as tunnel-GSO frames, intact', async (to, inner) => {
    await restart();
    const server = (to === 'a vxroute switch node' ? peer : kernel).pods[0];
    const t = await tcpTransfer(server.ns, inner === 4 ? server.ip : server.ip6, ours.pods[0].ns, BYTES);
    expect(t.receivedBytes).toBe(BYTES);
    expect(t.receivedSha256).toBe(t.sentSha256);
    const c = await tunnel();
    expect(c.frames).toBeGreaterThan(BYTES / 65_536 / 4);
    expect(c.segments).toBeGreaterThanOrEqual(2 * c.frames);
    expect(c.fallbacks).toBe(0);
    const metrics = (await daemon.get('/metrics')).body.split('\n');
    const sample = (name: string) => Number(metrics.find((l) => l.startsWith(`${name}{family="4"} `))?.split(' ').at(-1));
    expect(sample('vxroute_tunnel_gso_frames_total')).toBeGreaterThanOrEqual(c.frames);
    expect(sample('vxroute_tunnel_gso_segments_total')).toBeGreaterThanOrEqual(c.segments);
    expect(sample('vxroute_tunnel_gso_fallbacks_total')).toBe(0);
  });

  it('writes no frame and opens no TAP with --send-path cut', async () => {
    await restart(['--send-path', 'cut']);
    try {
      const server = kernel.pods[0];
      const t = await tcpTransfer(server.ns, server.ip, ours.pods[0].ns, BYTES);
      expect(t.receivedSha256).toBe(t.sentSha256);
      const c = await daemon.counters();
      expect(c.udp.find((f) => f.family === 4)!.gsoRuns).toBeGreaterThan(0);
      expect((await tunnel()).frames).toBe(0);
      expect((await tryInNs(ours.ns, 'ip', ['link', 'show', TAP])).code).not.toBe(0);
      expect(await inNs(ours.ns, 'nft', ['list', 'tables'])).not.toContain(TABLE);
    } finally {
      await restart();
    }
  });

  it('switches back to datagrams when the FORWARD chain drops the frames, and the stream completes', async () => {
    await expectSwitchBackOnForwardDrop(ours, restart, kernel.pods[0], ours.pods[0], BYTES);
  });

  it('leaves no TAP, no table of its own and no sysctl changed after exit', async () => {
    await daemon.stop();
    const sysctls = await inNs(ours.ns, 'sysctl', ['-n', ...SYSCTLS]);
    await restart();
    expect(await inNs(ours.ns, 'ip', ['-o', 'link', 'show', TAP])).toContain(TAP);
    expect(await inNs(ours.ns, 'nft', ['list', 'tables'])).toContain(TABLE);
    expect((await daemon.stop()).code).toBe(0);
    try {
      expect((await tryInNs(ours.ns, 'ip', ['link', 'show', TAP])).code).not.toBe(0);
      expect((await tryInNs(ours.ns, 'ip', ['link', 'show', 'vxroute0'])).code).not.toBe(0);
      expect(await inNs(ours.ns, 'nft', ['list', 'tables'])).not.toContain(TABLE);
      expect(await inNs(ours.ns, 'sysctl', ['-n', ...SYSCTLS])).toBe(sysctls);
    } finally {
      await restart();
    }
  });
});
