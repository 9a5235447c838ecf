// flannel's net-conf.json as vxroute reads it: its keys (case-insensitively, as Go does), its
// defaults, both families, and an error naming the field for everything it cannot honour.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../config-error.js';
import { parseNetConf } from './net-conf.js';

const problem = (json: unknown): string => {
  try {
    parseNetConf(json);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('net-conf.json', () => {
  it('reads flannel’s default ConfigMap: IPv4, VNI 1, port 8472', () => {
    const c = parseNetConf({ Network: '10.244.0.0/16', EnableNFTables: false, Backend: { Type: 'vxlan' } });
    expect([c.network?.text, c.networkV6, c.vni, c.port, c.mtu]).toEqual(['10.244.0.0/16', undefined, 1, 8472, undefined]);
  });

  it('reads dual stack, IPv6 only, and the backend’s VNI, Port and MTU in any case', () => {
    const dual = parseNetConf({ Network: '10.244.0.0/16', EnableIPv6: true, IPv6Network: 'fd00:10:244::/56', backend: { type: 'vxlan', vni: 4096, port: 4789, mtu: 1400 } });
    expect([dual.network?.text, dual.networkV6?.text, dual.vni, dual.port, dual.mtu]).toEqual(['10.244.0.0/16', 'fd00:10:244::/56', 4096, 4789, 1400]);
    const v6 = parseNetConf({ EnableIPv4: false, EnableIPv6: true, IPv6Network: 'fd00:10:244::/56', Backend: { Type: 'vxlan' } });
    expect([v6.network, v6.networkV6?.text]).toEqual([undefined, 'fd00:10:244::/56']);
  });

  it('reads Backend.DirectRouting: off unless set, true or false in any case', () => {
    const off = parseNetConf({ Network: '10.244.0.0/16', Backend: { Type: 'vxlan' } });
    const on = parseNetConf({ Network: '10.244.0.0/16', Backend: { Type: 'vxlan', DirectRouting: true } });
    const lower = parseNetConf({ Network: '10.244.0.0/16', backend: { type: 'vxlan', directrouting: true } });
    const no = parseNetConf({ Network: '10.244.0.0/16', Backend: { Type: 'vxlan', DirectRouting: false } });
    expect([off.directRouting, on.directRouting, lower.directRouting, no.directRouting]).toEqual([false, true, true, false]);
  });

  it('names the field and the fix for what it cannot use', () => {
    expect(problem({ Backend: { Type: 'vxlan' } })).toMatch(/^net-conf\.json: Network: is required when IPv4 is enabled/);
    expect(problem({ Network: '10.244.0.0/16', EnableIPv6: true, Backend: { Type: 'vxlan' } })).toMatch(/IPv6Network: is required when IPv6 is enabled, e\.g\. "fd00:10:244::\/56"/);
    expect(problem({ Network: 'fd00::/56', Backend: { Type: 'vxlan' } })).toMatch(/Network: fd00::\/56 is not IPv4/);
    expect(problem({ EnableIPv4: false, Backend: { Type: 'vxlan' } })).toMatch(/EnableIPv4: and EnableIPv6 are both false/);
    expect(problem({ Network: '10.244.0.0/16', EnableIPv6: 'yes' })).toMatch(/EnableIPv6: "yes" must be true or false/);
    expect(problem({ Network: '10.244.0.0/16', Backend: { Type: 'host-gw' } })).toMatch(/Backend\.Type: "host-gw" is not supported/);
    expect(problem({ Network: '10.244.0.0/16', Backend: { Type: 'vxlan', GBP: true } })).toMatch(/Backend\.GBP: is not supported/);
    expect(problem({ Network: '10.244.0.0/16', Backend: { Type: 'vxlan', DirectRouting: 'true' } })).toMatch(/Backend\.DirectRouting: "true" must be true or false/);
    expect(problem({ Network: '10.244.0.0/16', Backend: { Type: 'vxlan', directrouting: 1 } })).toMatch(/Backend\.DirectRouting: 1 must be true or false/);
    expect(problem({ Network: '10.244.0.0/16', Backend: { Type: 'vxlan', VNI: -1 } })).toMatch(/Backend\.VNI: -1 must be an integer from 0 to 16777215/);
  });
});
