// Identities that cannot be forged, with crafted packets in namespaces: a peer's datagram may carry
// only inner sources from that peer's pod CIDRs (spoofed_source), and a pod cannot send to any
// node's VXLAN port (the host guard, table inet vxroute_guard), while ordinary traffic flows.
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isIPv4 } from 'node:net';
import { parseIpv4, parseIpv6 } from '../src/address/ip-text.js';
import { parseMac } from '../src/address/mac-text.js';
import { macOf } from '../src/lab/frame-flood.js';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { inNs, tryInNs } from '../src/lab/netns.js';
import { sendDatagrams } from '../src/lab/traffic.js';
import { cliPath, type VxrouteProcess } from '../src/lab/vxroute-process.js';
import { internetChecksum, pseudoHeaderSumV6 } from '../src/packet/checksum.js';
import { ENCAP_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6, IPPROTO_UDP, VXLAN_HEADER_LEN } from '../src/packet/constants.js';
import { writeEthernetHeader } from '../src/packet/ethernet.js';
import { writeIpv4Header } from '../src/packet/ipv4.js';
import { writeIpv6Header } from '../src/packet/ipv6.js';
import { writeVxlanHeader } from '../src/packet/vxlan.js';
import { setUdpChecksumV4, writeUdpHeader } from './udp-header.js';

const VXLAN_PORT = 8472;
const BOUND_MS = 15_000;

/** An IPv4 or IPv6 UDP packet from src to dst:port whose payload is `tag`, with valid checksums. */
function udpPacket(src: string, dst: string, port: number, tag: string): Buffer {
  const payload = Buffer.from(tag);
  const udpLen = 8 + payload.length;
  if (isIPv4(src)) {
    const b = Buffer.alloc(20 + udpLen);
    writeIpv4Header(b, 0, b.length, 1, 64, IPPROTO_UDP, parseIpv4(src), parseIpv4(dst), true);
    writeUdpHeader(b, 20, 40000, port, payload.length);
    payload.copy(b, 28);
    setUdpChecksumV4(b, 20, parseIpv4(src), parseIpv4(dst));
    return b;
  }
  const b = Buffer.alloc(40 + udpLen);
  writeIpv6Header(b, 0, udpLen, IPPROTO_UDP, 64, parseIpv6(src), parseIpv6(dst));
  writeUdpHeader(b, 40, 40000, port, payload.length);
  payload.copy(b, 48);
  const sum = internetChecksum(b, 40, udpLen, pseudoHeaderSumV6(b, 8, 24, IPPROTO_UDP, udpLen));
  b.writeUInt16BE(sum === 0 ? 0xffff : sum, 46);
  return b;
}

/** A VXLAN datagram (VNI 1) to the VTEP `dstMac` carrying `inner`. */
function vxlan(dstMac: string, srcMac: string, inner: Buffer): Buffer {
  const b = Buffer.alloc(ENCAP_LEN + inner.length);
  writeVxlanHeader(b, 0, 1);
  writeEthernetHeader(b, VXLAN_HEADER_LEN, parseMac(dstMac), parseMac(srcMac), inner[0] >> 4 === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6);
  inner.copy(b, ENCAP_LEN);
  return b;
}

/** A UDP listener on `port` (IPv4 and IPv6) in `ns`: the payloads it received, as text. */
async function listen(ns: string, port: number): Promise<{ got: string[]; stop: () => void }> {
  const script = `
import { createSocket } from 'node:dgram';
const sock = createSocket({ type: 'udp6', ipv6Only: false });
sock.on('message', (m) => console.log(m.toString()));
sock.bind(Number(process.argv[1]), '::', () => console.log('listening'));`;
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', script, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const got: string[] = [];
  const listening = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => (line === 'listening' ? resolve() : got.push(line)));
    child.once('exit', (code) => reject(new Error(`listener in ${ns} exited (${code})`)));
  });
  await listening;
  return { got, stop: () => void child.kill() };
}

/** Sends UDP datagrams with the given payloads from `ns` to host:port, over IPv4 or IPv6 as `host` is. */
async function sendUdp(ns: string, host: string, port: number, payloads: Buffer[]): Promise<void> {
  const script = `
import { createSocket } from 'node:dgram';
const [family, host, port, payloads] = process.argv.slice(1);
const sock = createSocket(family);
for (const hex of JSON.parse(payloads)) await new Promise((resolve, reject) => sock.send(Buffer.from(hex, 'hex'), Number(port), host, (e) => (e ? reject(e) : resolve())));
sock.close();`;
  await inNs(ns, process.execPath, ['--input-type=module', '-e', script, isIPv4(host) ? 'udp4' : 'udp6', host, String(port), JSON.stringify(payloads.map((p) => p.toString('hex')))]);
}

/** Sends one IPv4/UDP datagram with a forged source address from `ns`, through a raw socket (IP_HDRINCL). */
async function sendForged(ns: string, src: string, dst: string, port: number, payload: Buffer): Promise<void> {
  const b = Buffer.alloc(28 + payload.length);
  writeIpv4Header(b, 0, b.length, 7, 64, IPPROTO_UDP, parseIpv4(src), parseIpv4(dst), true);
  writeUdpHeader(b, 20, 40001, port, payload.length);
  payload.copy(b, 28);
  const script = 'import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_RAW)\ns.sendto(bytes.fromhex(sys.argv[2]),(sys.argv[1],0))';
  await inNs(ns, 'python3', ['-c', script, dst, b.toString('hex')]);
}

/** vxroute_pod_vxlan_dropped_total from the daemon's /metrics, or undefined when it has no sample. */
async function guardMetric(daemon: VxrouteProcess): Promise<number | undefined> {
  const m = /^vxroute_pod_vxlan_dropped_total (\d+)$/m.exec((await daemon.get('/metrics')).body);
  return m ? Number(m[1]) : undefined;
}

/** The daemon's child processes that run nft: the guard counter's one long-lived reader, nothing forked per scrape. */
async function nftChildren(daemon: VxrouteProcess): Promise<number[]> {
  const tasks = await readdir(`/proc/${daemon.pid}/task`);
  const children = (await Promise.all(tasks.map((t) => readFile(`/proc/${daemon.pid}/task/${t}/children`, 'utf8')))).join(' ').split(' ').filter(Boolean);
  const comms = await Promise.all(children.map((c) => readFile(`/proc/${c}/comm`, 'utf8').catch(() => '')));
  return children.filter((_, i) => comms[i] === 'nft\n').map(Number);
}

describe('identities that cannot be forged', () => {
  let lab: Lab;
  let ours: LabNode;
  let peer: LabNode;
  let third: LabNode;
  let daemon: VxrouteProcess;

  beforeAll(async () => {
    lab = await Lab.create({ underlay: [4, 6], pods: [4, 6] });
    ours = await lab.addNode('vxroute', 2);
    peer = await lab.addNode('kernel');
    third = await lab.addNode('kernel');
    await lab.programKernelPeers();
    daemon = await lab.startVxroute(ours, await lab.writeSubnets());
    await lab.ipv6Settled();
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  it('delivers what a peer sends from its pods and its VTEP address; every other inner source is spoofed_source', async () => {
    const to = ours.pods[0];
    const port = 7001;
    const legit = [
      [peer.pods[0].ip, 'peer pod v4'],
      ['10.244.2.0', 'peer vtep v4'],
      [peer.pods[0].ip6, 'peer pod v6'],
      ['fd00:10:244:2::', 'peer vtep v6'],
    ];
    const forged = [
      [third.pods[0].ip, 'another node pod v4'],
      [ours.pods[1].ip, 'our own pod v4'],
      ['198.51.100.7', 'outside v4'],
      [peer.publicIP, 'peer underlay v4'],
      [third.pods[0].ip6, 'another node pod v6'],
      [ours.pods[1].ip6, 'our own pod v6'],
      ['2001:db8:ffff::7', 'outside v6'],
    ];
    const listener = await listen(to.ns, port);
    try {
      const before = (await daemon.counters()).drops.spoofed_source;
      const datagrams = [...legit, ...forged].map(([src, tag]) => {
        const v4 = isIPv4(src);
        return vxlan(v4 ? ours.vtepMAC : ours.vtepMACv6, v4 ? peer.vtepMAC : peer.vtepMACv6, udpPacket(src, v4 ? to.ip : to.ip6, port, tag));
      });
      await sendDatagrams(peer.ns, peer.publicIP, ours.publicIP, VXLAN_PORT, datagrams);
      await expect.poll(async () => (await daemon.counters()).drops.spoofed_source, { timeout: BOUND_MS }).toBe(before + forged.length);
      await expect.poll(() => listener.got.length, { timeout: BOUND_MS }).toBeGreaterThanOrEqual(legit.length);
      expect([...listener.got].sort()).toEqual(legit.map(([, tag]) => tag).sort());
    } finally {
      listener.stop();
    }
  });

  it('passes a kernel node\'s own traffic: its pods, its host (from flannel.1\'s address) and its ICMP errors', async () => {
    const before = (await daemon.counters()).drops.spoofed_source;
    for (const [from, to] of [[peer.pods[0].ns, ours.pods[0].ip], [peer.pods[0].ns, ours.pods[0].ip6], [peer.ns, ours.pods[0].ip], [peer.ns, ours.pods[0].ip6]]) {
      const r = await tryInNs(from, 'ping', ['-n', '-c', '1', '-W', '5', to]);
      expect(r.stdout, `ping ${to} from ${from}`).toMatch(/1 received/);
    }
    // A TTL that runs out on the kernel node: its Time Exceeded comes from its VTEP address.
    const ttl = await tryInNs(ours.pods[0].ns, 'ping', ['-n', '-c', '1', '-W', '5', '-t', '2', peer.pods[0].ip]);
    expect(ttl.stdout).toMatch(/From 10\.244\.2\.0 icmp_seq=1 Time to live exceeded/);
    const hops = await tryInNs(ours.pods[0].ns, 'ping', ['-n', '-c', '1', '-W', '5', '-t', '2', peer.pods[0].ip6]);
    expect(hops.stdout).toMatch(/From fd00:10:244:2:: icmp_seq=1 Time exceeded: Hop limit/);
    expect((await daemon.counters()).drops.spoofed_source).toBe(before);
  });

  it('drops pod UDP to the VXLAN port of a peer or of its own node, on its own node; counts it; other pod UDP flows', async () => {
    const [pod, other] = ours.pods;
    const port = 7002;
    const atPeer = await listen(peer.pods[0].ns, port);
    const atOurs = await listen(other.ns, port);
    try {
      const drops = (await guardMetric(daemon)) ?? 0;
      const reader = await nftChildren(daemon);
      expect(reader).toHaveLength(1);
      // Through the peer's VXLAN port into its pod (the kernel's vxlan device takes any outer source).
      await sendUdp(pod.ns, peer.publicIP, VXLAN_PORT, [vxlan(peer.vtepMAC, ours.vtepMAC, udpPacket(pod.ip, peer.pods[0].ip, port, 'via the peer v4'))]);
      await sendUdp(pod.ns, peer.publicIPv6, VXLAN_PORT, [vxlan(peer.vtepMACv6, ours.vtepMACv6, udpPacket(pod.ip6, peer.pods[0].ip6, port, 'via the peer v6'))]);
      // Into our own daemon as the peer: a forged outer source, an inner source the peer may send.
      await sendForged(pod.ns, peer.publicIP, ours.publicIP, VXLAN_PORT, vxlan(ours.vtepMAC, peer.vtepMAC, udpPacket(peer.pods[0].ip, other.ip, port, 'via our node as the peer')));
      await sendUdp(pod.ns, ours.publicIPv6, VXLAN_PORT, [vxlan(ours.vtepMACv6, peer.vtepMACv6, udpPacket(peer.pods[0].ip6, other.ip6, port, 'via our node v6'))]);
      await expect.poll(() => guardMetric(daemon), { timeout: BOUND_MS }).toBe(drops + 4);
      const rule = await inNs(ours.ns, 'nft', ['list', 'counter', 'inet', 'vxroute_guard', 'pod_vxlan']);
      expect(rule).toMatch(new RegExp(`packets ${drops + 4} `));
      expect(await nftChildren(daemon)).toEqual(reader);

      // Ordinary pod UDP, to a pod on the peer and to one on our node, in both families, still flows.
      for (const to of [peer.pods[0].ip, peer.pods[0].ip6]) await sendUdp(pod.ns, to, port, [Buffer.from(`ordinary to ${to}`)]);
      for (const to of [other.ip, other.ip6]) await sendUdp(pod.ns, to, port, [Buffer.from(`ordinary to ${to}`)]);
      await expect.poll(() => atPeer.got.length + atOurs.got.length, { timeout: BOUND_MS }).toBeGreaterThanOrEqual(4);
      // The injected datagrams were dropped before the ordinary ones were sent: none can still come.
      expect([...atPeer.got].sort()).toEqual([`ordinary to ${peer.pods[0].ip}`, `ordinary to ${peer.pods[0].ip6}`].sort());
      expect([...atOurs.got].sort()).toEqual([`ordinary to ${other.ip}`, `ordinary to ${other.ip6}`].sort());
    } finally {
      atPeer.stop();
      atOurs.stop();
    }
  });
});

describe('the pod VXLAN guard in switch mode', () => {
  it('drops UDP from the bridge to a peer\'s or its own node\'s VXLAN port; frames across the segment still flow', async () => {
    const lab = await Lab.create({ underlay: [4], pods: [4], segment: true });
    try {
      const ours = await lab.addNode('vxroute', 1);
      const peer = await lab.addNode('kernel', 1);
      await lab.programKernelPeers();
      const daemon = await lab.startVxroute(ours, await lab.writeSubnets(), ['--mode', 'switch']);
      // A node that also routes for its segment: cni0 gets an address, the pod a route to the underlay through it.
      const [pod] = ours.pods;
      const target = peer.pods[0];
      await inNs(ours.ns, 'ip', ['addr', 'add', '10.244.0.1/16', 'dev', 'cni0']);
      await inNs(pod.ns, 'ip', ['route', 'add', '192.0.2.0/24', 'via', '10.244.0.1']);
      const port = 7003;
      const listener = await listen(target.ns, port);
      try {
        const drops = (await guardMetric(daemon)) ?? 0;
        const frame = vxlan(await macOf(target.ns, 'eth0'), '02:00:00:00:00:99', udpPacket(pod.ip, target.ip, port, 'via the kernel peer'));
        await sendUdp(pod.ns, peer.publicIP, VXLAN_PORT, [frame]);
        await sendUdp(pod.ns, ours.publicIP, VXLAN_PORT, [frame]);
        await expect.poll(() => guardMetric(daemon), { timeout: BOUND_MS }).toBe(drops + 2);
        await sendUdp(pod.ns, target.ip, port, [Buffer.from('across the segment')]);
        await expect.poll(() => listener.got.length, { timeout: BOUND_MS }).toBeGreaterThanOrEqual(1);
        expect(listener.got).toEqual(['across the segment']);
      } finally {
        listener.stop();
      }
    } finally {
      await lab.dispose();
    }
  });
});

describe('the pod VXLAN guard on the host', () => {
  it('is replaced, not doubled, by a restart; outlives the daemon; vxroute uninstall removes it', async () => {
    const lab = await Lab.create();
    try {
      const node = await lab.addNode('vxroute', 0);
      const subnets = await lab.writeSubnets();
      const rules = async () => (await inNs(node.ns, 'nft', ['list', 'table', 'inet', 'vxroute_guard'])).split('\n').filter((l) => l.includes('drop'));
      await (await lab.startVxroute(node, subnets, ['--port', '4789'])).stop();
      const first = await rules();
      const d = await lab.startVxroute(node, subnets, ['--port', '4789']);
      expect(await rules()).toEqual(first);
      expect(first).toHaveLength(4); // input and forward: the bridge cni0 and our IPv4 pod CIDR
      expect(first.every((l) => l.includes('udp dport 4789'))).toBe(true);
      expect(first.filter((l) => l.includes('iifname "cni0"'))).toHaveLength(2);
      expect(first.filter((l) => l.includes('ip saddr 10.244.1.0/24'))).toHaveLength(2);
      await d.stop();
      expect(await rules()).toEqual(first); // pods keep running while the daemon restarts
      const r = await tryInNs(node.ns, process.execPath, [cliPath(), 'uninstall']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/removed nftables table inet vxroute_guard/);
      expect((await tryInNs(node.ns, 'nft', ['list', 'table', 'inet', 'vxroute_guard'])).code).not.toBe(0);
      expect((await tryInNs(node.ns, process.execPath, [cliPath(), 'uninstall'])).stdout).toMatch(/guard \(nftables table inet vxroute_guard\): not there/);
    } finally {
      await lab.dispose();
    }
  });
});
