// /run/flannel/subnet.env as flanneld writes it (pkg/subnet/subnet.go WriteSubnetFile).
import { describe, expect, it } from 'vitest';
import { parseCidr } from '../subnets/cidr.js';
import { formatSubnetEnv } from './subnet-env.js';

describe('subnet.env', () => {
  const c = parseCidr;
  it('gives each enabled family its network and the first address of our subnet, then MTU and masquerade', () => {
    expect(formatSubnetEnv({ network: c('10.244.0.0/16'), podCIDR: c('10.244.1.0/24'), networkV6: undefined, podCIDRv6: undefined, mtu: 1450, ipMasq: false })).toBe(
      'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n',
    );
    expect(formatSubnetEnv({ network: c('10.244.0.0/16'), podCIDR: c('10.244.1.0/24'), networkV6: c('fd00:10:244::/56'), podCIDRv6: c('fd00:10:244:1::/64'), mtu: 1430, ipMasq: true })).toBe(
      'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:1::1/64\nFLANNEL_MTU=1430\nFLANNEL_IPMASQ=true\n',
    );
    expect(formatSubnetEnv({ network: undefined, podCIDR: undefined, networkV6: c('fd00:10:244::/56'), podCIDRv6: c('fd00:10:244:ff::/64'), mtu: 1430, ipMasq: false })).toBe(
      'FLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:ff::1/64\nFLANNEL_MTU=1430\nFLANNEL_IPMASQ=false\n',
    );
  });
});
