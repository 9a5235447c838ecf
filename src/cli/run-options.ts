// Flags of `vxroute run`, parsed once into a frozen object; every error names the flag and the fix.
import { availableParallelism, hostname } from 'node:os';
import { isIPv4 } from 'node:net';
import { parseArgs } from 'node:util';
import { ConfigError } from '../config-error.js';
import { DEFAULT_VNI, VXLAN_PORT } from '../packet/constants.js';
import { MAX_CONNTRACK_MAX, MIN_CONNTRACK_MAX } from '../datapath/policy/conntrack.js';
import type { TunReads } from '../datapath/tun-reads.js';

export interface KubeOptions {
  /** undefined: in-cluster config, else $KUBECONFIG or ~/.kube/config. */
  kubeconfig: string | undefined;
  netConf: string;
  /** Enforce NetworkPolicy: follow pods, namespaces and NetworkPolicies (off: --no-network-policy). */
  networkPolicy: boolean;
  /** The connection table's cap (--conntrack-max). */
  conntrackMax: number;
}

/** Switch mode's settings (--mode switch). */
export interface SwitchOptions {
  /** The Linux bridge our TAP joins (created when absent). */
  bridge: string;
  fdbMax: number;
  agingSeconds: number;
  arpProxy: boolean;
}

export interface RunOptions {
  /** router: IP packets on a TUN, routed by pod CIDR; switch: Ethernet frames on a TAP in the node's bridge. */
  mode: 'router' | 'switch';
  /** Set in switch mode only. */
  switch: SwitchOptions | undefined;
  nodeName: string;
  /** The static table; undefined with --kube. */
  subnets: string | undefined;
  kube: KubeOptions | undefined;
  /** Which CNI configuration vxroute provides: its own conflist, flannel's subnet.env, or none. */
  cni: 'vxroute' | 'flannel' | 'none';
  cniConfDir: string;
  /** Masquerade pod traffic that leaves the cluster networks, with nftables or iptables (auto: nft if installed). */
  ipMasq: boolean;
  natBackend: 'auto' | 'nftables' | 'iptables';
  /** Where to write flannel's subnet.env; undefined: nowhere. */
  subnetEnv: string | undefined;
  iface: string;
  publicIP: string | undefined;
  /** undefined when not given: net-conf.json's, else flannel's default (resolveDatapath). */
  port: number | undefined;
  vni: number | undefined;
  /** per-flow: each inner flow leaves from its own UDP source port (the kernel's VXLAN's way); fixed: every datagram from the VXLAN port. */
  sourcePorts: SourcePorts;
  sendPath: SendPath;
  workers: number;
  /** --direct-routing / --no-direct-routing; undefined when neither: net-conf.json's (resolveDirectRouting). */
  directRouting: boolean | undefined;
  /** TUN/TAP offloads (virtio_net_hdr): TSO packets read and cut, runs of TCP segments and UDP datagrams written as GSO packets. */
  tunOffload: boolean;
  /** Microseconds a shard keeps polling without sleeping after traffic (0: off, it sleeps at once). */
  busyPollUs: number;
  /** How shards read their TUN/TAP queue: batched through io_uring, or one readv per packet (tun-reads.ts). */
  tunReads: TunReads;
  mtu: number | undefined;
  /** Where the HTTP endpoint listens; empty: nowhere. */
  metrics: { host: string; port: number }[];
  /** Serve /debug/* on every metrics address; else only to connections made to a loopback address. */
  exposeDebug: boolean;
  logLevel: string;
}

export const SOURCE_PORTS = ['per-flow', 'fixed'] as const;
export type SourcePorts = (typeof SOURCE_PORTS)[number];
/** How runs of one TCP flow leave (--send-path): auto (tunnel-GSO frames through an egress TAP where the kernel takes them, Linux 6.16+), always that (a start error where it cannot), or always cut into datagrams. */
export const SEND_PATHS = ['auto', 'tunnel-gso', 'cut'] as const;
export type SendPath = (typeof SEND_PATHS)[number];

export const DEFAULT_NET_CONF = '/etc/kube-flannel/net-conf.json';
const DEFAULT_CONNTRACK_MAX = 65_536;
export const DEFAULT_SUBNET_ENV = '/run/flannel/subnet.env';
export const DEFAULT_CNI_CONF_DIR = '/etc/cni/net.d';
const CNI_MODES = ['vxroute', 'flannel', 'none'] as const;

export const RUN_USAGE = `Usage: vxroute run (--subnets FILE | --kube) [options]

Forward pod traffic between nodes over VXLAN (flannel's wire format) through a TUN device, or,
with --mode switch, switch Ethernet frames between the nodes' bridges through a TAP device.

The subnet table, one of:
  --subnets FILE        static subnet table, JSON (see README); re-read on SIGHUP and on change
  --kube                every Node's pod CIDR and flannel annotations from the Kubernetes API
    --kubeconfig FILE   (default: in-cluster config, else $KUBECONFIG or ~/.kube/config)
    --net-conf FILE     flannel's net-conf.json (default: ${DEFAULT_NET_CONF})
    --no-network-policy do not enforce NetworkPolicy (default: enforced, which needs get, list
                        and watch on pods, namespaces and networkpolicies; see README, RBAC)
    --conntrack-max N   most connections NetworkPolicy tracks (default 65536, 8 MB of shared memory)

Mode:
  --mode MODE           router (default): a TUN device, IP packets routed by pod CIDR;
                        switch: a TAP device in the node's bridge, one Ethernet segment across
                        the nodes of --subnets (each node needs only name and publicIP there)
                        or of --kube (NetworkPolicy enforced on frames between nodes)
  --bridge NAME         switch mode: the bridge the TAP joins, created if absent (default: cni0)
  --fdb-max N           switch mode: most MACs learned; the least recently seen makes room
                        (default: 16384)
  --fdb-aging SECONDS   switch mode: forget a MAC not seen for this long (default: 300)
  --arp-proxy, --no-arp-proxy
                        switch mode: answer ARP and IPv6 neighbour solicitations for stations
                        behind peers from what was learned, instead of flooding (default: on)

Pod networking (router mode):
  --cni MODE            vxroute: write ${'10-vxroute.conflist'} (bridge, host-local, portmap) into
                        --cni-conf-dir once the datapath is up; flannel: write subnet.env for
                        flannel's CNI plugin; none (default: vxroute with --kube, none otherwise)
  --cni-conf-dir DIR    where kubelet reads CNI configurations (default: ${DEFAULT_CNI_CONF_DIR})
  --ip-masq, --no-ip-masq
                        masquerade pod traffic leaving the cluster networks, in nftables table
                        inet vxroute (default: on with --cni vxroute, off otherwise)
  --nat-backend B       auto (nftables if nft is installed, else iptables), nftables or iptables
                        (chain VXROUTE-MASQ in the nat table) (default: auto)
  --subnet-env FILE     write flannel's subnet.env ('' for none; default: ${DEFAULT_SUBNET_ENV}
                        with --cni flannel, none otherwise)

Options:
  --node-name NAME      this node's name in the table (default: $NODE_NAME, else the hostname)
  --iface NAME          TUN (switch mode: TAP) device to create or adopt (default: vxroute0)
  --public-ip IP        our underlay address (default: our node's publicIP in the table)
  --port N              VXLAN UDP port (default: net-conf's, else ${VXLAN_PORT}, flannel's; 4789 is IANA's)
  --source-ports MODE   per-flow (default): each inner flow leaves from its own UDP source port
                        in the local port range, as from the kernel's VXLAN, so that a peer's
                        RSS and SO_REUSEPORT spread our flows over its cores; fixed: every
                        datagram leaves from --port, for firewalls that let only --port to
                        --port through (all flows then land on one of a peer's cores)
  --send-path PATH      auto (default): a TSO packet's segments to one peer leave as ONE
                        tunnel-GSO frame through an egress TAP (<iface>-out) where the kernel
                        takes them (Linux 6.16+) and forwards them, else as UDP GSO datagrams
                        (switch mode too: a pod's untagged TCP frames); tunnel-gso: the same,
                        a start error where it cannot; cut: always datagrams
  --vni N               VXLAN network identifier (default: net-conf's, else ${DEFAULT_VNI}, flannel's)
  --direct-routing, --no-direct-routing
                        router mode: a peer on our underlay subnet (the kernel's route to its
                        public IP has no gateway) gets a kernel route to its pods via that IP
                        instead of VXLAN, flannel's Backend.DirectRouting (default: net-conf's
                        with --kube, else off)
  --workers N           datapath shards, one TUN queue each (default: min(cores, 4))
  --no-tun-offload      move packets through the TUN (TAP) one by one: no TSO packets read and
                        cut, no runs of TCP segments or UDP datagrams written as one GSO packet
                        (default: offloads on)
  --busy-poll MICROSECONDS
                        after traffic, each shard keeps polling without sleeping for up to this
                        long before it blocks again: shorter round trips where a core per busy
                        shard is free, longer ones where it is not (default: 0, off; at most
                        100000)
  --tun-reads R         readv: one syscall per packet; uring: read up to 32 packets from the
                        TUN (TAP) in one io_uring_enter (falls back to readv, with a log line,
                        where io_uring is refused: seccomp, kernel.io_uring_disabled)
                        (default: readv, which measured as well or better here)
  --mtu N               TUN MTU (default: net-conf's, else underlay MTU - 50)
  --metrics-addr H:P    HTTP endpoint for /healthz, /readyz, /metrics and /debug/*; repeat
                        it to listen on several addresses (default: 127.0.0.1:9475;
                        '' turns it off). /debug/* (counters, peers, FDB, and the packet
                        trace with pod flow headers) answers on loopback addresses only
  --expose-debug        serve /debug/* on every --metrics-addr, e.g. the node's address:
                        whoever reaches it can then read pod traffic (default: off)
  --log-level LEVEL     trace, debug, info, warn, error (default: info)
  -h, --help            show this help
`;

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

export function parseRunOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): RunOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        mode: { type: 'string', default: 'router' },
        bridge: { type: 'string' },
        'fdb-max': { type: 'string' },
        'fdb-aging': { type: 'string' },
        'arp-proxy': { type: 'boolean' },
        'no-arp-proxy': { type: 'boolean' },
        'node-name': { type: 'string' },
        subnets: { type: 'string' },
        kube: { type: 'boolean', default: false },
        kubeconfig: { type: 'string' },
        'net-conf': { type: 'string' },
        'no-network-policy': { type: 'boolean' },
        'conntrack-max': { type: 'string' },
        'subnet-env': { type: 'string' },
        cni: { type: 'string' },
        'cni-conf-dir': { type: 'string', default: DEFAULT_CNI_CONF_DIR },
        'ip-masq': { type: 'boolean' },
        'no-ip-masq': { type: 'boolean' },
        'nat-backend': { type: 'string', default: 'auto' },
        iface: { type: 'string', default: 'vxroute0' },
        'public-ip': { type: 'string' },
        port: { type: 'string' },
        vni: { type: 'string' },
        'source-ports': { type: 'string', default: 'per-flow' },
        'send-path': { type: 'string', default: 'auto' },
        workers: { type: 'string' },
        'direct-routing': { type: 'boolean' },
        'no-direct-routing': { type: 'boolean' },
        'no-tun-offload': { type: 'boolean' },
        'busy-poll': { type: 'string' },
        'tun-reads': { type: 'string', default: 'readv' },
        mtu: { type: 'string' },
        'metrics-addr': { type: 'string', multiple: true, default: ['127.0.0.1:9475'] },
        'expose-debug': { type: 'boolean', default: false },
        'log-level': { type: 'string', default: 'info' },
      },
    }));
  } catch (err) {
    throw new ConfigError('arguments', `${(err as Error).message} (see vxroute run --help)`, { cause: err });
  }

  const mode = values.mode!;
  if (mode !== 'router' && mode !== 'switch') throw new ConfigError('--mode', `"${mode}" is neither router nor switch`);
  const switchOnly = ['bridge', 'fdb-max', 'fdb-aging', 'arp-proxy', 'no-arp-proxy'] as const;
  for (const flag of switchOnly) if (mode !== 'switch' && values[flag] !== undefined) throw new ConfigError(`--${flag}`, 'only applies with --mode switch');
  if (values['arp-proxy'] && values['no-arp-proxy']) throw new ConfigError('--arp-proxy', 'and --no-arp-proxy exclude each other: pick one');
  const kube = values.kube === true;
  if (mode === 'switch') {
    if (values['direct-routing']) throw new ConfigError('--direct-routing', 'applies to router mode only: switch mode joins the nodes\' bridges into one Ethernet segment over VXLAN');
    for (const flag of ['cni', 'ip-masq', 'subnet-env'] as const) {
      if (values[flag] !== undefined) throw new ConfigError(`--${flag}`, 'applies to router mode only: in switch mode the pods\' CNI plugin addresses them in one subnet (see README, Switch mode)');
    }
  }
  const bridge = values.bridge ?? 'cni0';
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(bridge)) throw new ConfigError('--bridge', `"${bridge}" is no valid device name (1–15 of A–Z a–z 0–9 _ . -)`);
  if (values.subnets === undefined && !kube) throw new ConfigError('--subnets', 'is required: the static subnet table file (see README), or --kube for the Kubernetes API');
  if (values.subnets !== undefined && kube) throw new ConfigError('--kube', 'and --subnets exclude each other: pick one source of the subnet table');
  for (const flag of ['kubeconfig', 'net-conf', 'no-network-policy', 'conntrack-max'] as const) {
    if (values[flag] !== undefined && !kube) throw new ConfigError(`--${flag}`, 'only applies with --kube');
  }
  const cni = values.cni ?? (kube && mode === 'router' ? 'vxroute' : 'none');
  if (!(CNI_MODES as readonly string[]).includes(cni)) throw new ConfigError('--cni', `"${cni}" is none of ${CNI_MODES.join(', ')}`);
  const subnetEnv = values['subnet-env'] ?? (cni === 'flannel' ? DEFAULT_SUBNET_ENV : '');
  if (values['ip-masq'] && values['no-ip-masq']) throw new ConfigError('--ip-masq', 'and --no-ip-masq exclude each other: pick one');
  const ipMasq = values['ip-masq'] ?? (values['no-ip-masq'] ? false : cni === 'vxroute');
  if (values['direct-routing'] && values['no-direct-routing']) throw new ConfigError('--direct-routing', 'and --no-direct-routing exclude each other: pick one');
  const tunReads = values['tun-reads']!;
  if (tunReads !== 'uring' && tunReads !== 'readv') throw new ConfigError('--tun-reads', `"${tunReads}" is neither uring nor readv`);
  const natBackend = values['nat-backend']!;
  if (!['auto', 'nftables', 'iptables'].includes(natBackend)) throw new ConfigError('--nat-backend', `"${natBackend}" is none of auto, nftables, iptables`);
  const iface = values.iface!;
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(iface)) throw new ConfigError('--iface', `"${iface}" is no valid device name (1–15 of A–Z a–z 0–9 _ . -)`);
  const publicIP = values['public-ip'];
  if (publicIP !== undefined && !isIPv4(publicIP)) throw new ConfigError('--public-ip', `"${publicIP}" is not an IPv4 address`);
  const sourcePorts = values['source-ports']!;
  if (!(SOURCE_PORTS as readonly string[]).includes(sourcePorts)) throw new ConfigError('--source-ports', `"${sourcePorts}" is none of ${SOURCE_PORTS.join(', ')} (fixed: every datagram from --port)`);
  const sendPath = values['send-path']!;
  if (!(SEND_PATHS as readonly string[]).includes(sendPath)) throw new ConfigError('--send-path', `"${sendPath}" is none of ${SEND_PATHS.join(', ')} (cut: the datagram path of earlier versions)`);
  const logLevel = values['log-level']!;
  if (!LEVELS.includes(logLevel)) throw new ConfigError('--log-level', `"${logLevel}" is none of ${LEVELS.join(', ')}`);

  if (mode === 'switch' && iface === bridge) throw new ConfigError('--iface', `is the TAP device and must differ from --bridge (${bridge})`);

  return Object.freeze({
    mode,
    switch: mode === 'switch' ? {
      bridge,
      fdbMax: values['fdb-max'] === undefined ? 16_384 : integer('--fdb-max', values['fdb-max'], 16, 1 << 20),
      agingSeconds: values['fdb-aging'] === undefined ? 300 : integer('--fdb-aging', values['fdb-aging'], 1, 1_000_000),
      arpProxy: !values['no-arp-proxy'],
    } : undefined,
    nodeName: values['node-name'] ?? env.NODE_NAME ?? hostname(),
    subnets: values.subnets,
    kube: kube ? { kubeconfig: values.kubeconfig, netConf: values['net-conf'] ?? DEFAULT_NET_CONF, networkPolicy: !values['no-network-policy'], conntrackMax: values['conntrack-max'] === undefined ? DEFAULT_CONNTRACK_MAX : integer('--conntrack-max', values['conntrack-max'], MIN_CONNTRACK_MAX, MAX_CONNTRACK_MAX) } : undefined,
    cni: cni as RunOptions['cni'],
    cniConfDir: values['cni-conf-dir']!,
    ipMasq,
    natBackend: natBackend as RunOptions['natBackend'],
    subnetEnv: subnetEnv === '' ? undefined : subnetEnv,
    iface,
    publicIP,
    port: values.port === undefined ? undefined : integer('--port', values.port, 1, 65535),
    vni: values.vni === undefined ? undefined : integer('--vni', values.vni, 0, 0xffffff),
    sourcePorts: sourcePorts as SourcePorts,
    sendPath: sendPath as SendPath,
    workers: values.workers === undefined ? Math.min(availableParallelism(), 4) : integer('--workers', values.workers, 1, 64),
    directRouting: values['direct-routing'] ?? (values['no-direct-routing'] ? false : undefined),
    tunOffload: !values['no-tun-offload'],
    busyPollUs: values['busy-poll'] === undefined ? 0 : integer('--busy-poll', values['busy-poll'], 0, 100_000),
    tunReads: tunReads as TunReads,
    mtu: values.mtu === undefined ? undefined : integer('--mtu', values.mtu, 576, 65535),
    metrics: values['metrics-addr']!.filter((a) => a !== '').map((a) => listenAddress('--metrics-addr', a)),
    exposeDebug: values['expose-debug']!,
    logLevel,
  });
}

function integer(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw new ConfigError(flag, `"${text}" must be an integer from ${min} to ${max}`);
  return n;
}

function listenAddress(flag: string, text: string): RunOptions['metrics'][number] {
  const colon = text.lastIndexOf(':');
  const host = text.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  if (colon < 0 || host === '') throw new ConfigError(flag, `"${text}" must be HOST:PORT, e.g. 127.0.0.1:9475, or '' to turn it off`);
  return { host, port: integer(flag, text.slice(colon + 1), 0, 65535) };
}

/** Port, VNI and MTU in force: a flag beats net-conf.json, which beats flannel's defaults. */
export function resolveDatapath(opts: RunOptions, netConf: { port: number; vni: number; mtu: number | undefined } | undefined): { port: number; vni: number; mtu: number | undefined } {
  return {
    port: opts.port ?? netConf?.port ?? VXLAN_PORT,
    vni: opts.vni ?? netConf?.vni ?? DEFAULT_VNI,
    mtu: opts.mtu ?? netConf?.mtu,
  };
}

/** DirectRouting in force: a flag beats net-conf.json's Backend.DirectRouting; off by default, as in flannel. */
export function resolveDirectRouting(opts: RunOptions, netConf: { directRouting: boolean } | undefined): boolean {
  return opts.directRouting ?? netConf?.directRouting ?? false;
}
