// The Kubernetes subnet source, driven through @kubernetes/client-node's own informer against
// a server that speaks the list/watch protocol: every table the source hands out is checked
// after adds, updates, deletes, dropped watches, 410 Gone, and the server going away and back.
import { pino } from 'pino';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KubeApiServer, type NodeObject } from '../src/lab/kube-api-server.js';
import { loopbackKubeConfig } from '../src/lab/loopback-kubeconfig.js';
import { parseCidr } from '../src/subnets/cidr.js';
import { Annotation } from '../src/subnets/flannel-annotations.js';
import { announceNode } from '../src/subnets/kube-announce.js';
import { KubeSubnetSource } from '../src/subnets/kube-source.js';
import type { SubnetTable } from '../src/subnets/subnet-table.js';
import { vtepMacFromName } from '../src/subnets/vtep-mac.js';

/** How long to wait for what the informer or the daemon does next, on a loaded machine. */
const WAIT = { timeout: 15_000 };

const NETWORK = parseCidr('10.244.0.0/16');
const silent = pino({ level: 'silent' });


/** A node as flanneld (or vxroute) leaves it: pod CIDR, InternalIP, flannel's vxlan annotations. */
function flannelNode(i: number, extra: Partial<Record<string, string>> = {}, vni = 1): NodeObject {
  return {
    metadata: {
      name: `n${i}`,
      annotations: {
        [Annotation.kubeSubnetManager]: 'true',
        [Annotation.backendType]: 'vxlan',
        [Annotation.backendData]: `{"VNI":${vni},"VtepMAC":"0a:58:c0:00:02:${i.toString(16).padStart(2, '0')}"}`,
        [Annotation.publicIP]: `192.0.2.${i}`,
        ...(extra as Record<string, string>),
      },
    },
    spec: { podCIDR: `10.244.${i}.0/24`, podCIDRs: [`10.244.${i}.0/24`] },
    status: { addresses: [{ type: 'InternalIP', address: `192.0.2.${i}` }] },
  };
}

/** A node before flannel or vxroute ran on it; `podCIDR: null` is a node the controller manager has not served yet. */
function bareNode(i: number, podCIDR: string | null = `10.244.${i}.0/24`): NodeObject {
  return { metadata: { name: `n${i}` }, spec: podCIDR ? { podCIDR } : {}, status: { addresses: [{ type: 'InternalIP', address: `192.0.2.${i}` }] } };
}

const summary = (t: SubnetTable | undefined) => t?.nodes.map((n) => `${n.name} ${n.podCIDR!.text} ${n.publicIP} ${n.vtepMAC.toString('hex')}`);

describe.each(['event', 'http'] as const)('Kubernetes subnet source (410 Gone as %s)', (expired) => {
  let api: KubeApiServer;
  let source: KubeSubnetSource | undefined;
  const tables: SubnetTable[] = [];
  /** What each later table says it changed. */
  const changes: (ReadonlySet<string> | undefined)[] = [];
  const latest = () => summary(tables.at(-1));

  afterEach(async () => {
    source?.stop();
    await api?.close();
    tables.length = 0;
    changes.length = 0;
  });

  async function begin(nodes: NodeObject[], log = silent): Promise<SubnetTable> {
    api = new KubeApiServer({ expired });
    for (const n of nodes) api.upsertNode(n);
    const port = await api.listen('127.0.0.1', 0);
    source = new KubeSubnetSource(loopbackKubeConfig(port), { nodeName: 'n1', networks: { v4: NETWORK, v6: undefined }, vni: 1, publicIP: undefined }, log);
    source.onTable((t, _why, changed) => {
      tables.push(t);
      changes.push(changed);
    });
    const first = await source.start();
    tables.push(first);
    return first;
  }

  it('lists, then follows adds, updates, pod CIDR changes and deletes', async () => {
    const first = await begin([bareNode(1), flannelNode(2), bareNode(3), flannelNode(4, {}, 7)]);
    // Our node from its spec (fresh MAC from its name); n3 runs no flannel; n4 is on another VNI.
    expect(summary(first)).toEqual([`n1 10.244.1.0/24 192.0.2.1 ${vtepMacFromName('n1').toString('hex')}`, 'n2 10.244.2.0/24 192.0.2.2 0a58c0000202']);
    expect(source!.problem()).toBeUndefined();

    api.upsertNode(flannelNode(5));
    await vi.waitFor(() => expect(latest()).toContain('n5 10.244.5.0/24 192.0.2.5 0a58c0000205'), WAIT);

    api.upsertNode({ ...flannelNode(2, { [Annotation.publicIPOverwrite]: '198.51.100.2' }), spec: { podCIDR: '10.244.20.0/24' } });
    await vi.waitFor(() => expect(latest()).toContain('n2 10.244.20.0/24 198.51.100.2 0a58c0000202'), WAIT);

    api.deleteNode('n5');
    await vi.waitFor(() => expect(latest()?.some((l) => l.startsWith('n5'))).toBe(false), WAIT);
    expect(latest()).toHaveLength(2);
  });

  it('leaves out a pod CIDR claimed twice (ours first, then the first by name) until the earlier claim goes', async () => {
    const first = await begin([bareNode(1), { ...flannelNode(2), spec: { podCIDR: '10.244.1.0/25' } }, flannelNode(3), { ...flannelNode(4), spec: { podCIDR: '10.244.3.0/24' } }]);
    expect(summary(first)?.map((l) => l.split(' ')[0])).toEqual(['n1', 'n3']); // n2 inside our /24, n4 on n3's

    api.deleteNode('n3');
    await vi.waitFor(() => expect(latest()).toContain('n4 10.244.3.0/24 192.0.2.4 0a58c0000204'), WAIT);
    // The table names what it changed for the datapath: n3 gone and n4 back with it, nothing else.
    expect(changes.map((c) => [...c!].sort())).toEqual([['n3', 'n4']]);
    api.upsertNode(flannelNode(2)); // n2 moves off our pod CIDR
    await vi.waitFor(() => expect(latest()).toEqual([expect.stringMatching(/^n1 /), 'n2 10.244.2.0/24 192.0.2.2 0a58c0000202', 'n4 10.244.3.0/24 192.0.2.4 0a58c0000204']), WAIT);
  });

  it('rewatches after a watch dropped mid-stream, and relists after 410 Gone', async () => {
    await begin([bareNode(1), flannelNode(2)]);
    await vi.waitFor(() => expect(api.openWatches()).toBe(1), WAIT);
    api.dropWatches();
    api.upsertNode(flannelNode(3));
    await vi.waitFor(() => expect(latest()).toContain('n3 10.244.3.0/24 192.0.2.3 0a58c0000203'), WAIT);
    const listsBefore = api.stats.lists;

    // Changes made while the client's watch is away, then history compacted: 410 Gone on the
    // rewatch, and only a relist can see them.
    await vi.waitFor(() => expect(api.openWatches()).toBe(1), WAIT);
    api.dropWatches();
    api.deleteNode('n2');
    api.upsertNode(flannelNode(4));
    api.compact();
    await vi.waitFor(() => expect(latest()).toEqual([expect.stringMatching(/^n1 /), 'n3 10.244.3.0/24 192.0.2.3 0a58c0000203', 'n4 10.244.4.0/24 192.0.2.4 0a58c0000204']), WAIT);
    expect(api.stats.lists).toBeGreaterThan(listsBefore);
  });

  it('keeps the last table while the API server is down through several reconnects, and catches up when it is back', async () => {
    let reconnects = 0; // failed attempts, each logged with the delay before the next
    const log = pino({ level: 'warn' }, {
      write: (line: string) => {
        if ((JSON.parse(line) as { msg: string }).msg.startsWith('lost the API server')) reconnects++;
      },
    });
    await begin([bareNode(1), flannelNode(2)], log);
    await vi.waitFor(() => expect(api.openWatches()).toBe(1), WAIT);
    await api.down();
    await vi.waitFor(() => expect(source!.problem()).toMatch(/^API server: /), { timeout: 10_000 });
    const tablesWhileDown = tables.length;
    const failedBefore = reconnects;
    api.upsertNode(flannelNode(3)); // happens while no client can see it
    // Four failed reconnects (backoff 0.5, 1, 2, 4 s, jittered): an outage of seconds.
    await vi.waitFor(() => expect(reconnects - failedBefore).toBeGreaterThanOrEqual(4), { timeout: 30_000, interval: 100 });
    expect(tables.length).toBe(tablesWhileDown); // nothing was thrown away meanwhile
    await api.up();
    await vi.waitFor(() => expect(latest()).toContain('n3 10.244.3.0/24 192.0.2.3 0a58c0000203'), { timeout: 25_000 });
    await vi.waitFor(() => expect(source!.problem()).toBeUndefined(), { timeout: 5000 });
  });

  it('waits for our own pod CIDR, then starts', async () => {
    api = new KubeApiServer({ expired });
    api.upsertNode(bareNode(1, null));
    api.upsertNode(flannelNode(2));
    const port = await api.listen('127.0.0.1', 0);
    source = new KubeSubnetSource(loopbackKubeConfig(port), { nodeName: 'n1', networks: { v4: NETWORK, v6: undefined }, vni: 1, publicIP: undefined }, silent);
    let first: SubnetTable | undefined;
    void source.start().then((t) => (first = t));
    await vi.waitFor(() => expect(source!.problem()).toMatch(/has no IPv4 pod CIDR yet/), WAIT);
    expect(first).toBeUndefined();
    api.upsertNode(bareNode(1));
    await vi.waitFor(() => expect(summary(first)).toHaveLength(2), WAIT);
    expect(source.problem()).toBeUndefined();
  });
});

describe('Kubernetes subnet source at scale', () => {
  it('stays bounded in memory across thousands of watch events', async () => {
    const api = new KubeApiServer();
    for (let i = 1; i <= 200; i++) api.upsertNode(i === 1 ? bareNode(1) : flannelNode(i));
    const port = await api.listen('127.0.0.1', 0);
    const source = new KubeSubnetSource(loopbackKubeConfig(port), { nodeName: 'n1', networks: { v4: NETWORK, v6: undefined }, vni: 1, publicIP: undefined }, silent);
    let tables = 0;
    let onTable = (_: SubnetTable): void => {};
    let transients = 0;
    source.onTable((t) => {
      tables++;
      onTable(t);
    });
    try {
      await source.start();
      setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as () => void;
      const churn = async (rounds: number) => {
        for (let r = 0; r < rounds; r++) {
          api.upsertNode(flannelNode(2 + (r % 199), { 'example.com/heartbeat': String(r) }));
          if (r % 5 === 0) {
            // Nodes come and go under new names (autoscaling): nothing of a deleted node may stay.
            const name = `transient-${++transients}`;
            const seen = new Promise<void>((res) => (onTable = (t) => t.nodes.some((n) => n.name === name) && res()));
            api.upsertNode({ ...flannelNode(250), metadata: { ...flannelNode(250).metadata, name } });
            await seen;
            api.deleteNode(name);
          }
        }
        // Every event is in once a marker added after them has come and gone (one ordered watch).
        const marker = `marker-${++transients}`;
        const added = new Promise<void>((res) => (onTable = (t) => t.nodes.some((n) => n.name === marker) && res()));
        api.upsertNode({ ...flannelNode(250), metadata: { ...flannelNode(250).metadata, name: marker } });
        await added;
        const removed = new Promise<void>((res) => (onTable = (t) => !t.nodes.some((n) => n.name === marker) && res()));
        api.deleteNode(marker);
        await removed;
        onTable = () => {};
      };
      await churn(5000);
      gc();
      const before = process.memoryUsage().heapUsed;
      await churn(20_000);
      gc();
      const grown = process.memoryUsage().heapUsed - before;
      expect(tables).toBeGreaterThan(0);
      expect(grown).toBeLessThan(1 << 20);
    } finally {
      source.stop();
      await api.close();
    }
  });
});

describe('announcing our node', () => {
  it('writes flannel’s annotations byte for byte and NetworkUnavailable=False', async () => {
    const api = new KubeApiServer();
    api.upsertNode(bareNode(1));
    const port = await api.listen('127.0.0.1', 0);
    try {
      const mac = Buffer.from([0x0a, 0x58, 0xc0, 0x00, 0x02, 0x01]);
      await announceNode(loopbackKubeConfig(port), { name: 'n1', podCIDR: parseCidr('10.244.1.0/24'), podCIDRv6: undefined, publicIP: '192.0.2.1', publicIPv6: undefined, vtepMAC: mac, vtepMACv6: mac }, 1);
      const node = api.getNode('n1')!;
      expect(node.metadata.annotations).toEqual({
        'flannel.alpha.coreos.com/backend-type': 'vxlan',
        'flannel.alpha.coreos.com/backend-data': '{"VNI":1,"VtepMAC":"0a:58:c0:00:02:01"}',
        'flannel.alpha.coreos.com/public-ip': '192.0.2.1',
        'flannel.alpha.coreos.com/kube-subnet-manager': 'true',
      });
      expect(node.status?.conditions).toEqual([expect.objectContaining({ type: 'NetworkUnavailable', status: 'False', reason: 'VxrouteIsUp' })]);
      expect(node.spec?.podCIDR).toBe('10.244.1.0/24');
      expect(api.stats.patches).toBe(2);
    } finally {
      await api.close();
    }
  });
});

describe('Kubernetes subnet source, dual stack', () => {
  const NETWORK_V6 = parseCidr('fd00:10:244::/56');
  /** A dual-stack node as flanneld leaves it: both pod CIDRs and both families' annotations. */
  const dualNode = (i: number, extra: Record<string, string> = {}): NodeObject => {
    const hex = i.toString(16).padStart(2, '0');
    const n = flannelNode(i, {
      [Annotation.backendV6Data]: `{"VNI":1,"VtepMAC":"0a:58:c0:00:06:${hex}"}`,
      [Annotation.publicIPv6]: `2001:db8::${i.toString(16)}`,
      ...extra,
    });
    n.spec = { podCIDR: `10.244.${i}.0/24`, podCIDRs: [`10.244.${i}.0/24`, `fd00:10:244:${i.toString(16)}::/64`] };
    n.status!.addresses!.push({ type: 'InternalIP', address: `2001:db8::${i.toString(16)}` });
    return n;
  };
  const summary6 = (t: SubnetTable) => t.nodes.map((n) => `${n.name} ${n.podCIDR?.text} ${n.podCIDRv6?.text} ${n.publicIP} ${n.publicIPv6} ${n.vtepMAC.toString('hex')} ${n.vtepMACv6.toString('hex')}`);

  it('reads spec.podCIDRs, public-ipv6(-overwrite) and backend-v6-data; a node without its IPv6 lease waits', async () => {
    const api = new KubeApiServer();
    const own = dualNode(1);
    delete own.metadata.annotations; // we have not published yet
    api.upsertNode(own);
    api.upsertNode(dualNode(2));
    api.upsertNode(dualNode(3, { [Annotation.publicIPv6Overwrite]: '2001:db8::33' }));
    api.upsertNode(flannelNode(4)); // an IPv4-only flannel node in a dual-stack cluster: flannel would not use it either
    const port = await api.listen('127.0.0.1', 0);
    const source = new KubeSubnetSource(loopbackKubeConfig(port), { nodeName: 'n1', networks: { v4: NETWORK, v6: NETWORK_V6 }, vni: 1, publicIP: undefined }, silent);
    try {
      const t = await source.start();
      expect([t.network?.text, t.networkV6?.text]).toEqual(['10.244.0.0/16', 'fd00:10:244::/56']);
      expect(summary6(t)).toEqual([
        `n1 10.244.1.0/24 fd00:10:244:1::/64 192.0.2.1 2001:db8::1 ${vtepMacFromName('n1').toString('hex')} ${vtepMacFromName('n1', 6).toString('hex')}`,
        'n2 10.244.2.0/24 fd00:10:244:2::/64 192.0.2.2 2001:db8::2 0a58c0000202 0a58c0000602',
        'n3 10.244.3.0/24 fd00:10:244:3::/64 192.0.2.3 2001:db8::33 0a58c0000203 0a58c0000603',
      ]);
    } finally {
      source.stop();
      await api.close();
    }
  });

  it('serves an IPv6-only cluster', async () => {
    const api = new KubeApiServer();
    for (const i of [1, 2]) {
      const n = dualNode(i);
      n.spec = { podCIDR: `fd00:10:244:${i}::/64`, podCIDRs: [`fd00:10:244:${i}::/64`] };
      api.upsertNode(n);
    }
    const port = await api.listen('127.0.0.1', 0);
    const source = new KubeSubnetSource(loopbackKubeConfig(port), { nodeName: 'n1', networks: { v4: undefined, v6: NETWORK_V6 }, vni: 1, publicIP: undefined }, silent);
    try {
      const t = await source.start();
      expect(t.nodes.map((n) => [n.name, n.podCIDR, n.podCIDRv6?.text, n.publicIP, n.publicIPv6])).toEqual([
        ['n1', undefined, 'fd00:10:244:1::/64', undefined, '2001:db8::1'],
        ['n2', undefined, 'fd00:10:244:2::/64', undefined, '2001:db8::2'],
      ]);
    } finally {
      source.stop();
      await api.close();
    }
  });

  it('publishes both families’ leases byte for byte as flanneld does', async () => {
    const api = new KubeApiServer();
    api.upsertNode(bareNode(1));
    const port = await api.listen('127.0.0.1', 0);
    try {
      const mac = Buffer.from('0a58c0000201', 'hex');
      const mac6 = Buffer.from('0a58c0000601', 'hex');
      await announceNode(loopbackKubeConfig(port), { name: 'n1', podCIDR: parseCidr('10.244.1.0/24'), podCIDRv6: parseCidr('fd00:10:244:1::/64'), publicIP: '192.0.2.1', publicIPv6: '2001:db8::1', vtepMAC: mac, vtepMACv6: mac6 }, 1);
      expect(api.getNode('n1')!.metadata.annotations).toEqual({
        'flannel.alpha.coreos.com/backend-type': 'vxlan',
        'flannel.alpha.coreos.com/backend-data': '{"VNI":1,"VtepMAC":"0a:58:c0:00:02:01"}',
        'flannel.alpha.coreos.com/public-ip': '192.0.2.1',
        'flannel.alpha.coreos.com/backend-v6-data': '{"VNI":1,"VtepMAC":"0a:58:c0:00:06:01"}',
        'flannel.alpha.coreos.com/public-ipv6': '2001:db8::1',
        'flannel.alpha.coreos.com/kube-subnet-manager': 'true',
      });
    } finally {
      await api.close();
    }
  });
});

