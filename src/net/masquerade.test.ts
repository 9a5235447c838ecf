// The masquerade rules as text: pods leaving the cluster networks are NATed, nothing else.
import { describe, expect, it } from 'vitest';
import { parseCidr } from '../subnets/cidr.js';
import { iptablesRules, nftRules } from './masquerade.js';

describe('masquerade rules', () => {
  const c = parseCidr;
  it('replaces table inet vxroute in one transaction, one rule per family we have', () => {
    expect(nftRules({ podCIDR: c('10.244.1.0/24'), network: c('10.244.0.0/16'), podCIDRv6: c('fd00:10:244:1::/64'), networkV6: c('fd00:10:244::/56') })).toBe(
      [
        'table inet vxroute {}',
        'delete table inet vxroute',
        'table inet vxroute {',
        '  chain postrouting {',
        '    type nat hook postrouting priority srcnat; policy accept;',
        '    ip saddr 10.244.1.0/24 ip daddr != { 10.244.0.0/16, 224.0.0.0/4 } masquerade fully-random',
        '    ip6 saddr fd00:10:244:1::/64 ip6 daddr != { fd00:10:244::/56, ff00::/8 } masquerade fully-random',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    expect(nftRules({ podCIDR: undefined, network: undefined, podCIDRv6: c('fd00:10:244:1::/64'), networkV6: c('fd00:10:244::/56') })).not.toMatch(/ip saddr/);
  });

  it('gives iptables-restore a chain that returns for the cluster and multicast, then masquerades', () => {
    expect(iptablesRules(c('fd00:10:244:1::/64'), c('fd00:10:244::/56'), 'ff00::/8').split('\n')).toEqual([
      '*nat',
      ':VXROUTE-MASQ - [0:0]',
      '-A VXROUTE-MASQ -s fd00:10:244:1::/64 -d fd00:10:244::/56 -j RETURN',
      '-A VXROUTE-MASQ -s fd00:10:244:1::/64 -d ff00::/8 -j RETURN',
      '-A VXROUTE-MASQ -s fd00:10:244:1::/64 -j MASQUERADE --random-fully',
      'COMMIT',
      '',
    ]);
  });
});
