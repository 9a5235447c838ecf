import { describe, expect, it, vi } from 'vitest';
import { ICMP, ICMPV6, ipv4, TCP, tcp, TCP_SYN, UDP } from '../../../test/flow-packets.js';
import { TestDecider } from '../../../test/test-flow-decider.js';
import { compilePolicy } from '../../policy/compile-policy.js';
import type { PolicyPod, PolicyWorld } from '../../policy/world.js';
import { HEADROOM } from '../../packet/constants.js';
import { CounterLayout, Direction, ShardCounters } from '../counters.js';
import { FORWARDED, PacketBatch } from '../packet-batch.js';
import { CompiledPolicy, type RuleFlow } from './compiled-policy.js';
import { allocateConntrack, Conntrack } from './conntrack.js';
import { FLOW_DENY_INGRESS, type FlowQuery } from './flow-decider.js';
import { policyStage } from './policy-stage.js';
import { PolicyWarmUp, WARM_CONNECTIONS, warmPolicyStage } from './policy-warm-up.js';

const SLOT = 2048;

/** `n` pods with an IPv4 and an IPv6 address each, and one policy that isolates for ingress those labelled `isolated` (every `isolatedEvery`th). */
function world(n: number, isolatedEvery = 1): PolicyWorld {
  const pods: PolicyPod[] = [];
  for (let i = 0; i < n; i++) pods.push({ namespace: 'ns', name: `p${i}`, labels: i % isolatedEvery === 0 ? { isolated: 'yes' } : {}, ips: [`10.244.${i >> 8}.${i & 255}`, `fd00:10:244::${i.toString(16)}`], nodeName: 'n0', hostNetwork: false, ports: [] });
  return { pods, namespaces: [{ name: 'ns', labels: { 'kubernetes.io/metadata.name': 'ns' } }], nodes: [{ name: 'n0', addresses: ['192.0.2.1'] }], policies: [{ metadata: { namespace: 'ns', name: 'deny' }, spec: { podSelector: { matchLabels: { isolated: 'yes' } }, policyTypes: ['Ingress'] } }] };
}

/** `n` pods, each isolated both ways by one policy: in from pods labelled app=b on the named port web, out to 10.0.0.0/8 on 5432. */
function isolatedBothWays(n: number): PolicyWorld {
  const ports = [{ name: 'metrics', port: 9090, protocol: 'TCP' as const }, { name: 'web', port: 8080, protocol: 'TCP' as const }];
  const pods: PolicyPod[] = Array.from({ length: n }, (_, i) => ({ namespace: 'ns', name: `p${i}`, labels: { app: i % 2 === 0 ? 'a' : 'b' }, ips: [`10.244.0.${1 + i}`], nodeName: 'n0', hostNetwork: false, ports }));
  return {
    pods, namespaces: [{ name: 'ns', labels: { 'kubernetes.io/metadata.name': 'ns' } }], nodes: [{ name: 'n0', addresses: ['192.0.2.1'] }],
    policies: [{ metadata: { namespace: 'ns', name: 'both' }, spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'], ingress: [{ _from: [{ podSelector: { matchLabels: { app: 'b' } } }], ports: [{ port: 'web', protocol: 'TCP' }] }], egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' } }], ports: [{ port: 5432, protocol: 'TCP' }] }] } }],
  };
}

const dotted = (a: number): string => [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join('.');

describe('the policy stage warm-up', () => {
  it('takes its connections between real pods: the IPv4 addresses of the compiled pods, at most as many as asked', () => {
    const w = world(40);
    const compiled = new CompiledPolicy(compilePolicy(w, 1).sab);
    const some = compiled.podAddressesV4(16).map(dotted);
    expect(some).toHaveLength(16);
    expect(new Set(some).size).toBe(16);
    for (const a of some) expect(w.pods.map((p) => p.ips[0])).toContain(a);
    expect(compiled.podAddressesV4(1000).map(dotted).sort()).toEqual(w.pods.map((p) => p.ips[0]).sort());
  });

  it('takes the pods a policy isolates first: their flows walk rule lists', () => {
    const w = world(40, 4);
    const compiled = new CompiledPolicy(compilePolicy(w, 1).sab);
    const isolated = w.pods.filter((p) => p.labels.isolated === 'yes').map((p) => p.ips[0]);
    expect(compiled.podAddressesV4(10).map(dotted).sort()).toEqual(isolated.sort());
    expect(compiled.podAddressesV4(12).map(dotted).slice(0, 10).sort()).toEqual(isolated.sort());
  });

  it('takes IPv6 connections between the compiled pods\' IPv6 addresses too', () => {
    const w = world(40);
    const compiled = new CompiledPolicy(compilePolicy(w, 1).sab);
    const some = compiled.podAddressesV6(16).map(hex);
    expect(some).toHaveLength(16);
    expect(new Set(some).size).toBe(16);
    const v6 = w.pods.map((p) => hex(ipv6Bytes(p.ips[1])));
    for (const a of some) expect(v6).toContain(a);
    expect(compiled.podAddressesV6(1000).map(hex).sort()).toEqual(v6.sort());
  });

  it('judges connections of both families, each with TCP, UDP and ICMP echo, between pods and not', () => {
    const w = world(40, 4);
    const asked = new Map<string, number>();
    class Recording extends CompiledPolicy {
      override decide(q: FlowQuery): number {
        const family = q.src[10] === 0xff && q.src[11] === 0xff && q.src.subarray(0, 10).every((x) => x === 0) ? 'v4' : 'v6';
        const key = `${family} ${q.protocol} ${hex(q.src) === DOC_1 || hex(q.src) === DOC_2 ? 'not-pod' : 'pod'}`;
        asked.set(key, (asked.get(key) ?? 0) + 1);
        return super.decide(q);
      }
    }
    const warmUp = new PolicyWarmUp(new Recording(compilePolicy(w, 1).sab), SLOT);
    warmUp.step(WARM_CONNECTIONS);
    // Half the packets are IPv6 (runs of 8 connections alternate the families, each run has the same kinds).
    expect(warmUp.judgedV6 / warmUp.judged).toBeCloseTo(0.5, 1);
    for (const family of ['v4', 'v6']) for (const protocol of [TCP, UDP, family === 'v4' ? ICMP : ICMPV6]) expect(asked.get(`${family} ${protocol} pod`) ?? 0).toBeGreaterThan(100);
    expect(asked.get(`v6 ${TCP} not-pod`) ?? 0).toBeGreaterThan(0);
  });

  it('decides again for connections it made known under an older policy (the path of a connection\'s first packet after a policy change)', () => {
    let again = 0;
    class Recording extends CompiledPolicy {
      override decide(q: FlowQuery): number {
        if (new Error().stack!.includes('knownVerdict')) again++;
        return super.decide(q);
      }
    }
    new PolicyWarmUp(new Recording(compilePolicy(world(40, 4), 1).sab), SLOT).step(WARM_CONNECTIONS);
    expect(again).toBeGreaterThan(100);
  });

  it('walks the rules to their ports and named ports in a world where every pod is isolated both ways (its flows between pods end at the source\'s egress)', () => {
    const w = isolatedBothWays(12);
    const compiled = new CompiledPolicy(compilePolicy(w, 1).sab);
    const flows = compiled.ruleFlows(64);
    // Per ingress rule its named port resolved on the pod (web: 8080), per egress rule its port (5432), and port 0 after each.
    expect(new Set(flows.map((f) => f.dstPort))).toEqual(new Set([8080, 5432, 0]));
    for (const f of flows) expect(compiled.walkRules(f) >= 0, `port ${f.dstPort}`).toBe(f.dstPort !== 0);
    const lookups = vi.spyOn(CompiledPolicy.prototype as unknown as { podHasNamedPort: () => boolean }, 'podHasNamedPort');
    try {
      new PolicyWarmUp(compiled, SLOT).step(WARM_CONNECTIONS);
      expect(lookups.mock.calls.length).toBeGreaterThan(100);
      lookups.mockClear();
      // Without them the warm-up never looks a named port up in this world.
      class NoRuleFlows extends CompiledPolicy {
        override ruleFlows(): RuleFlow[] {
          return [];
        }
      }
      new PolicyWarmUp(new NoRuleFlows(compilePolicy(w, 2).sab), SLOT).step(WARM_CONNECTIONS);
      expect(lookups.mock.calls.length).toBe(0);
    } finally {
      lookups.mockRestore();
    }
  });

  it('takes an address the policy\'s hash holds away from its home slot too (a lookup that probes past a collision)', () => {
    const w = world(2000);
    const displaced = new CompiledPolicy(compilePolicy(w, 1).sab).displacedAddressV4();
    expect(displaced).toBeDefined();
    expect([...w.pods.map((p) => p.ips[0]), '192.0.2.1']).toContain(dotted(displaced!));
  });

  it('runs in slices: each step the connections asked for, all of them by the last, as many packets as at once', () => {
    const compiled = new CompiledPolicy(compilePolicy(world(40), 1).sab);
    const warmUp = new PolicyWarmUp(compiled, SLOT);
    let steps = 0;
    let before = 0;
    while (!warmUp.step(16)) {
      steps++;
      // Two packets (UDP) or four (TCP) per connection.
      expect(warmUp.judged - before).toBeGreaterThanOrEqual(16 * 2);
      before = warmUp.judged;
    }
    expect(steps).toBe(Math.ceil(WARM_CONNECTIONS / 16) - 1);
    expect(warmUp.done).toBe(true);
    expect(warmUp.step(16)).toBe(true);
    expect(warmUp.judged).toBe(warmPolicyStage(compiled, SLOT));
  });

  it('runs its connections through the stage and leaves nothing behind: the shard\'s table, counters and decider see its first real packet as new', () => {
    const compiled = new CompiledPolicy(compilePolicy(world(40), 1).sab);
    // Every warm-up connection was judged: denied ones too (all pods are isolated for ingress).
    expect(warmPolicyStage(compiled, SLOT)).toBeGreaterThanOrEqual(WARM_CONNECTIONS * 2);
    expect(compiled.decide({ src: mapped('10.244.0.1'), dst: mapped('10.244.0.2'), protocol: TCP, dstPort: 80 })).toBe(FLOW_DENY_INGRESS);

    const layout = new CounterLayout(1, 1);
    const counters = new ShardCounters(layout.block(layout.allocate(), 0), layout);
    counters.now = Date.now();
    const conntrack = new Conntrack(allocateConntrack(64));
    const decider = new TestDecider();
    const b = new PacketBatch(1, SLOT);
    // A flow between pods the warm-up used, on a port it used.
    const p = ipv4(dotted(compiled.podAddressesV4(1)[0]), '10.244.0.9', TCP, tcp(1024, 80, TCP_SYN));
    p.copy(b.slab, HEADROOM);
    b.sizes[0] = p.length;
    b.verdicts[0] = FORWARDED;
    policyStage(b, 1, 0, { conntrack, decider, counters }, Direction.tun);
    expect(b.verdicts[0]).toBe(FORWARDED);
    expect(decider.asked).toHaveLength(1);
    expect(conntrack.stats()).toMatchObject({ entries: 1, inserted: 1 });
  });
});

function mapped(v4: string): Uint8Array {
  const a = new Uint8Array(16);
  a[10] = a[11] = 0xff;
  a.set(v4.split('.').map(Number), 12);
  return a;
}

const hex = (a: Uint8Array): string => Buffer.from(a).toString('hex');
const DOC_1 = '20010db8000000000000000000000001';
const DOC_2 = '20010db8000000000000000000000002';

/** The 16 bytes of an IPv6 address written as in the world (fd00:10:244::n). */
function ipv6Bytes(text: string): Uint8Array {
  const [head, tail] = text.split('::');
  const words = (s: string): number[] => (s ? s.split(':').map((x) => parseInt(x, 16)) : []);
  const h = words(head);
  const t = words(tail);
  const all = [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  const a = new Uint8Array(16);
  all.forEach((x, k) => { a[2 * k] = x >> 8; a[2 * k + 1] = x & 255; });
  return a;
}
