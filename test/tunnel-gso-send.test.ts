// The tunnel-GSO send path (Linux 6.16+): a pod's TSO packet, read whole from the TUN, leaves as
// ONE frame through the egress TAP (`vxroute0-out`), which the kernel forwards to the underlay as
// one skb; a kernel VXLAN peer decapsulates it once and a vxroute peer's UDP_GRO socket receives it
// whole. Bulk TCP arrives intact over both underlay families to both kinds of peer, with fewer
// frames than a quarter of the 64 KiB packets the stream holds, most of them TSO packets never cut
// (`wholeFrames`); with the TAP down every write fails and each such packet is cut at the send and
// the stream still completes; `--send-path cut` writes none; a
// FORWARD chain that drops the TAP's frames turns the path off at run time and the stream still
// completes; after exit no TAP and no table of ours are left (docs/decisions.md, "The tunnel-GSO
// send path in the daemon").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { inNs, tryInNs } from '../src/lab/netns.js';
import { tcpTransfer } from '../src/lab/traffic.js';
import { cliPath, type VxrouteProcess } from '../src/lab/vxroute-process.js';
import { expectSwitchBackOnForwardDrop } from './forward-drop.js';

const MiB = 1 << 20;
const BYTES = 8 * MiB;
const TAP = 'vxroute0-out';

describe('tunnel-GSO send path (root, namespaces, Linux 6.16+)', () => {
  let lab: Lab;
  let ours: LabNode;
  let kernel: LabNode;
  let peer: LabNode;
  let subnets: string;
  let daemon: VxrouteProcess;
  const tunnel = async (family: 4 | 6) => {
    const t = (await daemon.counters()).udp.find((f) => f.family === family)?.tunnelGso;
    return t ?? { frames: 0, segments: 0, fallbacks: 0, unfit: 0, wholeFrames: 0, wholeCut: 0, singles: 0 };
  };
  /** Our node's daemon, started again with `args`. */
  const restart = async (args: string[] = []) => {
    await daemon?.stop();
    daemon = await lab.startVxroute(ours, subnets, ['--workers', '1', ...args]);
    return daemon;
  };

  beforeAll(async () => {
    lab = await Lab.create({ underlay: [4, 6], pods: [4, 6] });
    ours = await lab.addNode('vxroute');
    kernel = await lab.addNode('kernel');
    peer = await lab.addNode('vxroute');
    await lab.programKernelPeers();
    subnets = await lab.writeSubnets();
    await lab.startVxroute(peer, subnets, ['--workers', '1']);
    await restart();
    await lab.ipv6Settled();
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  const cases = [
    ['a kernel VXLAN node', 4],
    ['a kernel VXLAN node', 6],
    ['a vxroute node', 4],
    ['a vxroute node', 6],
  ] as const;
  it.each(cases)('sends bulk TCP to %s over IPv%i as tunnel-GSO frames, intact', async (to, family) => {
    await restart();
    const server = (to === 'a vxroute node' ? peer : kernel).pods[0];
    const t = await tcpTransfer(server.ns, family === 4 ? server.ip : server.ip6, ours.pods[0].ns, BYTES);
    expect(t.receivedBytes).toBe(BYTES);
    expect(t.receivedSha256).toBe(t.sentSha256);
    const c = await tunnel(family);
    expect(c.frames).toBeGreaterThan(BYTES / 65_536 / 4);
    expect(c.segments).toBeGreaterThanOrEqual(2 * c.frames);
    expect(c.fallbacks).toBe(0);
    // The pod's TSO packets left whole: one frame each, none cut on the way.
    expect(c.wholeFrames).toBeGreaterThan(BYTES / 65_536 / 4);
    expect(c.wholeCut).toBe(0);
    // A whole slot counts as its segments everywhere, and none of them as lost (the kernel's own
    // IPv6 multicast on a fresh TUN, MLD and router solicitations, is dropped as it always is).
    const { drops } = await daemon.counters();
    expect(Object.entries(drops).filter(([reason, n]) => n > 0 && reason !== 'multicast')).toEqual([]);
    const line = (await daemon.get('/metrics')).body.split('\n').find((l) => l.startsWith(`vxroute_tunnel_gso_frames_total{family="${family}"}`));
    expect(Number(line?.split(' ').at(-1))).toBeGreaterThanOrEqual(c.frames);
  });

  it('keeps TSO packets whole with --tun-reads uring, and cuts them all with --no-tun-offload; intact either way', async () => {
    try {
      const server = kernel.pods[0];
      await restart(['--tun-reads', 'uring']);
      let t = await tcpTransfer(server.ns, server.ip, ours.pods[0].ns, BYTES);
      expect(t.receivedSha256).toBe(t.sentSha256);
      expect((await tunnel(4)).wholeFrames).toBeGreaterThan(BYTES / 65_536 / 4);
      await restart(['--no-tun-offload']);
      t = await tcpTransfer(server.ns, server.ip, ours.pods[0].ns, BYTES);
      expect(t.receivedSha256).toBe(t.sentSha256);
      expect((await daemon.counters()).workers[0]!.tsoPackets).toBe(0);
      expect((await tunnel(4)).wholeFrames).toBe(0);
    } finally {
      await restart();
    }
  });

  it('writes no frame with --send-path cut', async () => {
    await restart(['--send-path', 'cut']);
    try {
      const server = kernel.pods[0];
      const t = await tcpTransfer(server.ns, server.ip, ours.pods[0].ns, BYTES);
      expect(t.receivedSha256).toBe(t.sentSha256);
      const c = await daemon.counters();
      expect(c.udp.find((f) => f.family === 4)!.gsoRuns).toBeGreaterThan(0);
      expect((await tunnel(4)).frames).toBe(0);
      expect((await tunnel(4)).wholeFrames).toBe(0);
      expect((await tryInNs(ours.ns, 'ip', ['link', 'show', TAP])).code).not.toBe(0);
    } finally {
      await restart();
    }
  });

  it.each([4, 6] as const)('cuts TSO packets read whole at the send when the TAP refuses the frame, and the stream completes over IPv%i', async (family) => {
    await restart();
    try {
      await inNs(ours.ns, 'ip', ['link', 'set', TAP, 'down']); // a TAP that is down refuses writes (EIO)
      const server = kernel.pods[0];
      const t = await tcpTransfer(server.ns, family === 4 ? server.ip : server.ip6, ours.pods[0].ns, BYTES);
      expect(t.receivedBytes).toBe(BYTES);
      expect(t.receivedSha256).toBe(t.sentSha256);
      const c = await tunnel(family);
      expect(c.wholeFrames).toBe(0);
      expect(c.wholeCut).toBeGreaterThan(BYTES / 65_536 / 4);
      expect(c.fallbacks).toBeGreaterThan(0);
    } finally {
      await restart();
    }
  });

  it('switches back to datagrams when the FORWARD chain drops the frames, and the stream completes', async () => {
    await expectSwitchBackOnForwardDrop(ours, restart, kernel.pods[0], ours.pods[0], BYTES);
  });

  it('leaves no TAP and no table of its own after exit', async () => {
    await restart();
    expect(await inNs(ours.ns, 'ip', ['-o', 'link', 'show', TAP])).toContain(TAP);
    expect(await inNs(ours.ns, 'nft', ['list', 'tables'])).toContain('vxroute_tunnel_gso');
    const rpFilter = await inNs(ours.ns, 'sysctl', ['-n', 'net.ipv4.conf.all.rp_filter', 'net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding']);
    await daemon.stop();
    try {
      expect((await tryInNs(ours.ns, 'ip', ['link', 'show', TAP])).code).not.toBe(0);
      expect(await inNs(ours.ns, 'nft', ['list', 'tables'])).not.toContain('vxroute_tunnel_gso');
      expect(await inNs(ours.ns, 'sysctl', ['-n', 'net.ipv4.conf.all.rp_filter', 'net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding'])).toBe(rpFilter);
    } finally {
      await restart();
    }
  });

  it('after kill -9: the TAP goes with the process, the next start replaces the table, uninstall removes it', async () => {
    await restart();
    daemon.kill();
    await daemon.exited;
    expect((await tryInNs(ours.ns, 'ip', ['link', 'show', TAP])).code).not.toBe(0);
    expect(await inNs(ours.ns, 'nft', ['list', 'tables'])).toContain('vxroute_tunnel_gso');
    daemon = await lab.startVxroute(ours, subnets, ['--workers', '1']);
    return daemon;
    expect((await inNs(ours.ns, 'nft', ['list', 'tables'])).match(/vxroute_tunnel_gso/g)).toHaveLength(1);
    daemon.kill();
    await daemon.exited;
    const uninstall = () => inNs(ours.ns, process.execPath, [cliPath(), 'uninstall', '--cni-conf-dir', `${lab.dir}/cni-none`]);
    try {
      expect(await uninstall()).toMatch(/removed nftables table inet vxroute_tunnel_gso/);
      expect(await inNs(ours.ns, 'nft', ['list', 'tables'])).not.toContain('vxroute_tunnel_gso');
      expect(await uninstall()).toMatch(/tunnel-GSO forward check .*: not there/);
    } finally {
      daemon = await lab.startVxroute(ours, subnets, ['--workers', '1']);
    }
  });
});
