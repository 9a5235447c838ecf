// A throwaway cluster of network namespaces on this machine:
//   underlay  one namespace with bridge br0 (192.0.2.0/24 and/or 2001:db8::/64), every node's eth0 in it
//   node i    192.0.2.i and/or 2001:db8::i on eth0, bridge cni0 10.244.i.1/24 and/or
//             fd00:10:244:i::1/64, either vxroute or flannel's kernel VXLAN (flannel.1, flannel-v6.1)
//   pod i.k   10.244.i.(k+2) and/or fd00:10:244:i::(k+2) behind cni0, default routes via cni0
//   api       (optional) 192.0.2.250:6443, a relay to a test's own Kubernetes API server
//   routed    (optional) nodes on another underlay subnet, bridge br1 behind router namespace r:
//             192.0.2.(192+i)/26 and 2001:db8::ff00:i/120, the router 192.0.2.126 / 2001:db8::7e
//             on br0 and 192.0.2.254 / 2001:db8::ff00:fe on br1; the other nodes route
//             192.0.2.192/26 and 2001:db8::ff00:0/120 through it (a gateway: no direct routing)
// A switch-mode lab (`segment`) joins the nodes' cni0 bridges into one Ethernet segment instead:
// cni0 has no address, pod i.k is 10.244.i.(k+2)/16 and fd00:10:244::i:(k+2)/64 with no routes,
// and a kernel node bridges a vxlan0 (VNI 1, port 8472) with head-end replication to every peer.
// Everything lives in namespaces named after this run; dispose() (or process exit) removes them.
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addFlannelDirectPeer, addFlannelPeer, addFlannelPeerV6, createFlannelDevice, directRoutingOK, removeFlannelPeer, type FlannelPeer, type FlannelPeerV6 } from './kernel-vxlan.js';
import type { KubeApiServer } from './kube-api-server.js';
import { createNamespace, deleteNamespacesSync, inNs, labId, sweepStaleNamespaces, tryInNs } from './netns.js';
import { VxrouteProcess } from './vxroute-process.js';

export type NodeKind = 'vxroute' | 'kernel';

export interface Pod {
  ns: string;
  /** Its addresses; only those of the lab's pod families are configured. */
  ip: string;
  ip6: string;
}

export type Family = 4 | 6;

export interface LabFamilies {
  /** Underlay address families of every node. */
  underlay: Family[];
  /** Pod address families. */
  pods: Family[];
  /** One Ethernet segment across the nodes (switch mode) instead of routed pod subnets. */
  segment?: boolean;
}

/** A node's addresses and MACs in both families; only the lab's families are configured. */
export interface LabNode extends FlannelPeer, FlannelPeerV6 {
  name: string;
  index: number;
  kind: NodeKind;
  ns: string;
  pods: Pod[];
  /** On the routed subnet behind the lab's router (addNode's `routed`). */
  routed: boolean;
}

/** flannel's pod MTU on a 1500-byte underlay: the VXLAN device's MTU. */
export const POD_MTU = 1450;
export const NETWORK = '10.244.0.0/16';
export const NETWORK_V6 = 'fd00:10:244::/56';
/** The routed underlay subnet and the router's addresses on both sides of it. */
const ROUTED = { v4: '192.0.2.192/26', v6: '2001:db8::ff00:0/120', nearV4: '192.0.2.126', nearV6: '2001:db8::7e', farV4: '192.0.2.254', farV6: '2001:db8::ff00:fe' };
/** Where the nodes find the API server on the underlay. */
export const API_ADDRESS = '192.0.2.250';
export const API_PORT = 6443;

const live = new Set<Lab>();
process.once('exit', () => {
  for (const lab of live) lab.disposeSync();
});

export class Lab {
  readonly nodes: LabNode[] = [];
  private readonly namespaces: string[] = [];
  private readonly processes = new Set<VxrouteProcess>();
  private readonly relays: ChildProcess[] = [];
  private readonly cleanups: (() => void)[] = [];
  private router: string | undefined;

  private constructor(
    readonly id: string,
    readonly underlayNs: string,
    /** Scratch directory for subnet files and captures. */
    readonly dir: string,
    readonly families: LabFamilies,
  ) {}

  static async create(families: LabFamilies = { underlay: [4], pods: [4] }): Promise<Lab> {
    if (process.getuid?.() !== 0) throw new Error('the namespace test bed needs root (run as root or with sudo)');
    await sweepStaleNamespaces();
    const id = labId();
    const lab = new Lab(id, `${id}-u`, await mkdtemp(join(tmpdir(), `${id}-`)), families);
    live.add(lab);
    try {
      await lab.namespace(lab.underlayNs);
      await inNs(lab.underlayNs, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
      await inNs(lab.underlayNs, 'ip', ['link', 'set', 'br0', 'up']);
    } catch (err) {
      await lab.dispose();
      throw err;
    }
    return lab;
  }

  /**
   * Adds node n<i> with `pods` pods; a kernel node gets flannel.1 now, its peers in
   * programKernelPeers(). With `cni`, the node gets no cni0 and no pods: CNI plugins make both.
   * With `txOffload`, its underlay veth keeps tx checksum offload on (and with it segmentation
   * offload), as a NIC or containers-as-nodes have it: what the benchmarks measure.
   * With `routed`, it sits on another underlay subnet, behind the lab's router.
   */
  async addNode(kind: NodeKind, pods = 1, opts: { cni?: boolean; txOffload?: boolean; routed?: boolean } = {}): Promise<LabNode> {
    const index = this.nodes.length + 1;
    const ns = `${this.id}-n${index}`;
    const hex = index.toString(16);
    const routed = opts.routed === true;
    if (routed && index > 62) throw new Error('the routed underlay subnet holds nodes n1 to n62');
    const node: LabNode = {
      name: `n${index}`,
      index,
      kind,
      ns,
      podCIDR: `10.244.${index}.0/24`,
      podCIDRv6: `fd00:10:244:${hex}::/64`,
      publicIP: routed ? `192.0.2.${192 + index}` : `192.0.2.${index}`,
      publicIPv6: routed ? `2001:db8::ff00:${hex}` : `2001:db8::${hex}`,
      vtepMAC: `0a:58:c0:00:02:${hex.padStart(2, '0')}`,
      vtepMACv6: `0a:58:c0:00:06:${hex.padStart(2, '0')}`,
      pods: [],
      routed,
    };
    const { underlay, pods: podFamilies } = this.families;
    this.nodes.push(node);
    await this.namespace(ns);
    if (routed) await this.ensureRouter();
    await inNs(this.underlayNs, 'ip', ['link', 'add', `v${index}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await inNs(this.underlayNs, 'ip', ['link', 'set', `v${index}`, 'master', routed ? 'br1' : 'br0', 'up']);
    if (underlay.includes(4)) await inNs(ns, 'ip', ['addr', 'add', `${node.publicIP}/${routed ? 26 : 24}`, 'dev', 'eth0']);
    if (underlay.includes(6)) await inNs(ns, 'ip', ['-6', 'addr', 'add', `${node.publicIPv6}/${routed ? 120 : 64}`, 'dev', 'eth0', 'nodad']);
    await inNs(ns, 'ip', ['link', 'set', 'eth0', 'up']);
    if (this.router) await this.routeAcrossRouter(ns, routed);
    // A veth passes CHECKSUM_PARTIAL packets across namespaces unfinished, where a NIC would fill
    // in the inner TCP/UDP checksum on the wire; vxroute finishes them (docs/decisions.md), the
    // other tests see what a real network gives.
    if (!opts.txOffload) await inNs(ns, 'ethtool', ['-K', 'eth0', 'tx', 'off']);
    await inNs(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    if (this.families.segment) {
      await inNs(ns, 'ip', ['link', 'add', 'cni0', 'mtu', String(POD_MTU), 'type', 'bridge']);
      await inNs(ns, 'ip', ['link', 'set', 'cni0', 'addrgenmode', 'none', 'up']);
      for (let k = 0; k < pods; k++) node.pods.push(await this.addPod(node, k));
      if (kind === 'kernel') {
        await inNs(ns, 'ip', ['link', 'add', 'vxlan0', 'mtu', String(POD_MTU), 'type', 'vxlan', 'id', '1', 'dstport', '8472', 'local', node.publicIP, 'dev', 'eth0']);
        await inNs(ns, 'ip', ['link', 'set', 'vxlan0', 'addrgenmode', 'none', 'master', 'cni0', 'up']);
      }
      return node;
    }
    if (!opts.cni) {
      await inNs(ns, 'ip', ['link', 'add', 'cni0', 'mtu', String(POD_MTU), 'type', 'bridge']);
      if (podFamilies.includes(4)) await inNs(ns, 'ip', ['addr', 'add', `10.244.${index}.1/24`, 'dev', 'cni0']);
      if (podFamilies.includes(6)) await inNs(ns, 'ip', ['-6', 'addr', 'add', `fd00:10:244:${hex}::1/64`, 'dev', 'cni0', 'nodad']);
      await inNs(ns, 'ip', ['link', 'set', 'cni0', 'up']);
      for (let k = 0; k < pods; k++) node.pods.push(await this.addPod(node, k));
    }
    if (kind === 'kernel') {
      // flannel's devices: flannel.1 carries IPv4 pods over the IPv4 underlay, flannel-v6.1 IPv6 over IPv6.
      if (podFamilies.includes(4)) {
        await createFlannelDevice(ns, { vni: 1, port: 8472, underlayDev: 'eth0', localIP: node.publicIP, vtepMAC: node.vtepMAC, address: `10.244.${index}.0` });
      }
      if (podFamilies.includes(6)) {
        await createFlannelDevice(ns, { vni: 1, port: 8472, underlayDev: 'eth0', localIP: node.publicIPv6, vtepMAC: node.vtepMACv6, address: `fd00:10:244:${hex}::` }, 6);
      }
    }
    return node;
  }

  /** Waits until no namespace holds a tentative IPv6 address (DAD of the link-local ones), so ND can answer. */
  async ipv6Settled(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const ns of this.namespaces) {
      while ((await inNs(ns, 'ip', ['-6', 'addr', 'show', 'tentative'])).trim() !== '') {
        if (Date.now() > deadline) throw new Error(`IPv6 addresses in ${ns} still tentative after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /**
   * Programs every kernel node with every other node, as flanneld does on its lease events; in a
   * segment, an all-zero FDB entry per peer (head-end replication of floods, as EVPN would).
   * With `directRouting` (flannel's Backend.DirectRouting), a peer the kernel reaches on-link gets
   * a plain route to its pods instead, per family.
   */
  async programKernelPeers(opts: { directRouting?: boolean } = {}): Promise<void> {
    for (const node of this.nodes) {
      if (node.kind !== 'kernel') continue;
      for (const peer of this.nodes) {
        if (peer === node) continue;
        if (this.families.segment) {
          await inNs(node.ns, 'bridge', ['fdb', 'append', '00:00:00:00:00:00', 'dev', 'vxlan0', 'dst', peer.publicIP]);
          continue;
        }
        const direct = async (ip: string): Promise<boolean> => opts.directRouting === true && (await directRoutingOK(node.ns, ip));
        if (this.families.pods.includes(4)) {
          if (await direct(peer.publicIP)) await addFlannelDirectPeer(node.ns, peer.podCIDR, peer.publicIP);
          else await addFlannelPeer(node.ns, peer);
        }
        if (this.families.pods.includes(6)) {
          if (await direct(peer.publicIPv6)) await addFlannelDirectPeer(node.ns, peer.podCIDRv6, peer.publicIPv6);
          else await addFlannelPeerV6(node.ns, peer);
        }
      }
    }
  }

  async removeKernelPeer(node: LabNode, peer: LabNode): Promise<void> {
    await removeFlannelPeer(node.ns, peer);
  }

  /** Writes the static subnet table of the given nodes (default: all) and returns its path. */
  async writeSubnets(nodes: LabNode[] = this.nodes, file = 'subnets.json'): Promise<string> {
    const path = join(this.dir, file);
    const { underlay, pods } = this.families;
    if (this.families.segment) {
      const peers = { nodes: nodes.map((n) => ({ name: n.name, publicIP: n.publicIP })) };
      await writeFile(path, `${JSON.stringify(peers, null, 2)}\n`);
      return path;
    }
    const table = {
      networks: [...(pods.includes(4) ? [NETWORK] : []), ...(pods.includes(6) ? [NETWORK_V6] : [])],
      nodes: nodes.map((n) => ({
        name: n.name,
        podCIDRs: [...(pods.includes(4) ? [n.podCIDR] : []), ...(pods.includes(6) ? [n.podCIDRv6] : [])],
        ...(underlay.includes(4) ? { publicIP: n.publicIP } : {}),
        ...(underlay.includes(6) ? { publicIPv6: n.publicIPv6 } : {}),
        vtepMAC: n.vtepMAC,
        vtepMACv6: n.vtepMACv6,
      })),
    };
    await writeFile(path, `${JSON.stringify(table, null, 2)}\n`);
    return path;
  }

  /**
   * Gives `api` (listening on a unix socket in this process) the underlay address
   * ${API_ADDRESS}:${API_PORT} through a socat relay in a namespace of its own, as a control-plane
   * node; returns the path of a kubeconfig that points there.
   */
  async addApiServer(api: KubeApiServer): Promise<string> {
    const socket = join(this.dir, 'api.sock');
    await api.listenUnix(socket);
    const ns = await this.addUnderlayHost('api', API_ADDRESS);
    const relay = spawn('ip', ['netns', 'exec', ns, 'socat', `TCP-LISTEN:${API_PORT},bind=${API_ADDRESS},reuseaddr,fork`, `UNIX-CONNECT:${socket}`], { stdio: 'ignore' });
    this.relays.push(relay);
    for (let i = 0; ; i++) {
      const { stdout } = await tryInNs(ns, 'ss', ['-Hltn', `sport = :${API_PORT}`]);
      if (stdout.trim() !== '') break;
      if (relay.exitCode !== null || i === 100) throw new Error(`the socat relay to the API server did not start (exit ${relay.exitCode})`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const kubeconfig = join(this.dir, 'kubeconfig');
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'lab', cluster: { server: `http://${API_ADDRESS}:${API_PORT}`, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'vxroute', user: { token: 'lab' } }],
      contexts: [{ name: 'lab', context: { cluster: 'lab', user: 'vxroute' } }],
      'current-context': 'lab',
    };
    await writeFile(kubeconfig, `${JSON.stringify(config, null, 2)}\n`);
    return kubeconfig;
  }

  /** A namespace of its own on the underlay at `address`/24 (a control plane, "the outside world"). */
  async addUnderlayHost(suffix: string, address: string): Promise<string> {
    const ns = `${this.id}-${suffix}`;
    await this.namespace(ns);
    await inNs(this.underlayNs, 'ip', ['link', 'add', `v${suffix}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await inNs(this.underlayNs, 'ip', ['link', 'set', `v${suffix}`, 'master', 'br0', 'up']);
    await inNs(ns, 'ip', ['addr', 'add', `${address}/24`, 'dev', 'eth0']);
    await inNs(ns, 'ip', ['link', 'set', 'eth0', 'up']);
    return ns;
  }

  /** An empty namespace for a pod that CNI plugins will wire; removed with the lab. */
  async addPodNamespace(node: LabNode, k: number): Promise<string> {
    const ns = `${node.ns}c${k}`;
    await this.namespace(ns);
    return ns;
  }

  /** Writes flannel's net-conf.json for the lab's pod families and returns its path. */
  async writeNetConf(backend: Record<string, unknown> = { Type: 'vxlan' }): Promise<string> {
    const path = join(this.dir, 'net-conf.json');
    const pods = this.families.pods;
    const conf = {
      ...(pods.includes(4) ? { Network: NETWORK } : { EnableIPv4: false }),
      ...(pods.includes(6) ? { EnableIPv6: true, IPv6Network: NETWORK_V6 } : {}),
      Backend: backend,
    };
    await writeFile(path, `${JSON.stringify(conf, null, 2)}\n`);
    return path;
  }

  /**
   * Starts `vxroute run --subnets` inside the node's namespace and waits until it logs "ready";
   * `cli` runs another build (a benchmark's baseline) instead of this one; `env` replaces the environment.
   */
  startVxroute(node: LabNode, subnets: string, extraArgs: string[] = [], cli?: string, env?: NodeJS.ProcessEnv): Promise<VxrouteProcess> {
    return this.startDaemon(node, ['--subnets', subnets, ...extraArgs], cli, env);
  }

  /**
   * Starts `vxroute run --kube` against the lab's API server; subnet.env goes to the lab's directory.
   * `ready: false`: returns without waiting for it; `cli`, `env`: as startVxroute's.
   */
  startVxrouteKube(node: LabNode, kubeconfig: string, netConf: string, extraArgs: string[] = [], opts: { ready?: boolean; cli?: string; env?: NodeJS.ProcessEnv } = {}): Promise<VxrouteProcess> {
    const subnetEnv = join(this.dir, `${node.name}-subnet.env`);
    return this.startDaemon(node, ['--kube', '--kubeconfig', kubeconfig, '--net-conf', netConf, '--cni', 'flannel', '--subnet-env', subnetEnv, ...extraArgs], opts.cli, opts.env, opts.ready ?? true);
  }

  private async startDaemon(node: LabNode, args: string[], cli?: string, env?: NodeJS.ProcessEnv, ready = true): Promise<VxrouteProcess> {
    const p = VxrouteProcess.spawn(node.ns, ['run', '--node-name', node.name, ...args], cli, env);
    this.processes.add(p);
    void p.exited.then(() => this.processes.delete(p));
    if (ready) await p.waitUntilReady();
    return p;
  }

  async dispose(): Promise<void> {
    await Promise.all([...this.processes].map((p) => p.stop().catch(() => p.kill())));
    this.disposeSync();
  }

  /** Runs `cleanup` when the lab is disposed, before its namespaces go (e.g. to kill a helper process). */
  onDispose(cleanup: () => void): void {
    this.cleanups.push(cleanup);
  }

  /** Last-resort cleanup, also on process exit: kill what we started, delete our namespaces and files. */
  disposeSync(): void {
    for (const c of this.cleanups.splice(0)) c();
    for (const p of this.processes) p.kill();
    for (const r of this.relays.splice(0)) r.kill('SIGKILL');
    deleteNamespacesSync(this.namespaces.splice(0).reverse());
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }

  /** The router between br0 and the routed subnet's br1, and the routes to it on the nodes already there. */
  private async ensureRouter(): Promise<void> {
    if (this.router) return;
    const ns = `${this.id}-r`;
    await this.namespace(ns);
    await inNs(this.underlayNs, 'ip', ['link', 'add', 'br1', 'type', 'bridge']);
    await inNs(this.underlayNs, 'ip', ['link', 'set', 'br1', 'up']);
    for (const [leg, bridge, v4, v6] of [['eth0', 'br0', `${ROUTED.nearV4}/24`, `${ROUTED.nearV6}/64`], ['eth1', 'br1', `${ROUTED.farV4}/26`, `${ROUTED.farV6}/120`]] as const) {
      await inNs(this.underlayNs, 'ip', ['link', 'add', `vr${leg}`, 'type', 'veth', 'peer', 'name', leg, 'netns', ns]);
      await inNs(this.underlayNs, 'ip', ['link', 'set', `vr${leg}`, 'master', bridge, 'up']);
      await inNs(ns, 'ip', ['addr', 'add', v4, 'dev', leg]);
      await inNs(ns, 'ip', ['-6', 'addr', 'add', v6, 'dev', leg, 'nodad']);
      await inNs(ns, 'ip', ['link', 'set', leg, 'up']);
    }
    await inNs(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    this.router = ns;
    for (const n of this.nodes) if (!n.routed) await this.routeAcrossRouter(n.ns, false);
  }

  /** A node's route to the other side of the router: through the gateway, so the kernel never calls it on-link. */
  private async routeAcrossRouter(ns: string, routed: boolean): Promise<void> {
    const { underlay } = this.families;
    const [v4, v6] = routed ? [['192.0.2.0/24', ROUTED.farV4], ['2001:db8::/64', ROUTED.farV6]] : [[ROUTED.v4, ROUTED.nearV4], [ROUTED.v6, ROUTED.nearV6]];
    if (underlay.includes(4)) await inNs(ns, 'ip', ['route', 'replace', v4[0], 'via', v4[1], 'dev', 'eth0']);
    if (underlay.includes(6)) await inNs(ns, 'ip', ['-6', 'route', 'replace', v6[0], 'via', v6[1], 'dev', 'eth0']);
  }

  private async namespace(name: string): Promise<void> {
    this.namespaces.push(name);
    await createNamespace(name);
  }

  private async addPod(node: LabNode, k: number): Promise<Pod> {
    const ns = `${node.ns}p${k}`;
    const hex = node.index.toString(16);
    const segment = this.families.segment === true;
    const pod = { ns, ip: `10.244.${node.index}.${k + 2}`, ip6: segment ? `fd00:10:244::${hex}:${(k + 2).toString(16)}` : `fd00:10:244:${hex}::${(k + 2).toString(16)}` };
    const families = this.families.pods;
    await this.namespace(ns);
    await inNs(node.ns, 'ip', ['link', 'add', `vp${k}`, 'mtu', String(POD_MTU), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await inNs(node.ns, 'ip', ['link', 'set', `vp${k}`, 'master', 'cni0', 'up']);
    if (families.includes(4)) await inNs(ns, 'ip', ['addr', 'add', `${pod.ip}/${segment ? 16 : 24}`, 'brd', '+', 'dev', 'eth0']);
    if (families.includes(6)) await inNs(ns, 'ip', ['-6', 'addr', 'add', `${pod.ip6}/64`, 'dev', 'eth0', 'nodad']);
    await inNs(ns, 'ip', ['link', 'set', 'eth0', 'mtu', String(POD_MTU), 'up']);
    if (segment) return pod;
    if (families.includes(4)) await inNs(ns, 'ip', ['route', 'add', 'default', 'via', `10.244.${node.index}.1`]);
    if (families.includes(6)) await inNs(ns, 'ip', ['-6', 'route', 'add', 'default', 'via', `fd00:10:244:${hex}::1`]);
    return pod;
  }
}
