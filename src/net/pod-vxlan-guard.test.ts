// The guard's rules as text: pods' UDP to the VXLAN port, from the bridge or our pod CIDRs, dropped and counted.
import { describe, expect, it } from 'vitest';
import { parseCidr } from '../subnets/cidr.js';
import { guardRules } from './pod-vxlan-guard.js';

describe('pod VXLAN guard rules', () => {
  const drop = 'udp dport 8472 counter name "pod_vxlan" drop';
  const body = (rules: string[]) => ['input', 'forward'].flatMap((hook) => [`  chain ${hook} {`, `    type filter hook ${hook} priority filter - 10; policy accept;`, ...rules.map((r) => `    ${r}`), '  }']);

  it('replaces table inet vxroute_guard in one transaction: the bridge and each pod CIDR, on input and forward', () => {
    const rules = guardRules({ bridge: 'cni0', podCIDR: parseCidr('10.244.1.0/24'), podCIDRv6: parseCidr('fd00:10:244:1::/64'), port: 8472 });
    expect(rules).toBe(
      [
        'table inet vxroute_guard {}',
        'delete table inet vxroute_guard',
        'table inet vxroute_guard {',
        '  counter pod_vxlan {}',
        ...body([`iifname "cni0" ${drop}`, `ip saddr 10.244.1.0/24 ${drop}`, `ip6 saddr fd00:10:244:1::/64 ${drop}`]),
        '}',
        '',
      ].join('\n'),
    );
  });

  it('matches only the bridge where there are no pod CIDRs (switch mode), on the port given', () => {
    const rules = guardRules({ bridge: 'br-pods', podCIDR: undefined, podCIDRv6: undefined, port: 4789 });
    expect(rules).toContain(body(['iifname "br-pods" udp dport 4789 counter name "pod_vxlan" drop']).join('\n'));
    expect(rules).not.toMatch(/saddr/);
  });
});
