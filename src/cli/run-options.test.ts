import { describe, expect, it } from 'vitest';
import { ConfigError } from '../config-error.js';
import { parseRunOptions, resolveDatapath, resolveDirectRouting } from './run-options.js';

const base = ['--subnets', 'table.json'];

function message(argv: string[]): string {
  try {
    parseRunOptions(argv, {});
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('vxroute run flags', () => {
  it('has flannel-compatible defaults', () => {
    const o = parseRunOptions(base, { NODE_NAME: 'n7' });
    expect(o).toMatchObject({ nodeName: 'n7', iface: 'vxroute0', subnetEnv: undefined, kube: undefined, metrics: [{ host: '127.0.0.1', port: 9475 }] });
    expect(resolveDatapath(o, undefined)).toEqual({ port: 8472, vni: 1, mtu: undefined });
    expect(o.workers).toBeGreaterThanOrEqual(1);
    expect(o.workers).toBeLessThanOrEqual(4);
    expect(Object.isFrozen(o)).toBe(true);
  });

  it('takes every flag', () => {
    const o = parseRunOptions([...base, '--node-name', 'a', '--iface', 'vx1', '--public-ip', '192.0.2.5', '--port', '4789', '--vni', '42', '--workers', '2', '--mtu', '1400', '--metrics-addr', ''], {});
    expect(o).toMatchObject({ nodeName: 'a', iface: 'vx1', publicIP: '192.0.2.5', port: 4789, vni: 42, workers: 2, mtu: 1400, metrics: [] });
    // Flags beat net-conf.json.
    expect(resolveDatapath(o, { port: 8472, vni: 1, mtu: 1300 })).toEqual({ port: 4789, vni: 42, mtu: 1400 });
    expect(parseRunOptions([...base, '--metrics-addr', '[::1]:9999'], {}).metrics).toEqual([{ host: '::1', port: 9999 }]);
    expect(parseRunOptions([...base, '--metrics-addr', '127.0.0.1:1', '--metrics-addr', '192.0.2.1:2'], {}).metrics).toEqual([{ host: '127.0.0.1', port: 1 }, { host: '192.0.2.1', port: 2 }]);
  });

  it('serves /debug/* on loopback only unless --expose-debug', () => {
    expect(parseRunOptions(base, {}).exposeDebug).toBe(false);
    expect(parseRunOptions([...base, '--metrics-addr', '192.0.2.1:9475', '--expose-debug'], {}).exposeDebug).toBe(true);
  });

  it('reads the cluster with --kube, with net-conf.json below flags', () => {
    const o = parseRunOptions(['--kube'], { NODE_NAME: 'n1' });
    expect(o).toMatchObject({ subnets: undefined, kube: { kubeconfig: undefined, netConf: '/etc/kube-flannel/net-conf.json' }, cni: 'vxroute', cniConfDir: '/etc/cni/net.d', ipMasq: true, subnetEnv: undefined });
    expect(resolveDatapath(o, { port: 4789, vni: 7, mtu: 1400 })).toEqual({ port: 4789, vni: 7, mtu: 1400 });
    const k = parseRunOptions(['--kube', '--kubeconfig', 'k.yaml', '--net-conf', 'n.json', '--subnet-env', ''], {});
    expect(k).toMatchObject({ kube: { kubeconfig: 'k.yaml', netConf: 'n.json' }, subnetEnv: undefined });
  });

  it('follows NetworkPolicy with --kube unless --no-network-policy, which needs --kube', () => {
    expect(parseRunOptions(['--kube'], {}).kube?.networkPolicy).toBe(true);
    expect(parseRunOptions(['--kube', '--no-network-policy'], {}).kube?.networkPolicy).toBe(false);
    expect(message([...base, '--no-network-policy'])).toMatch(/^--no-network-policy: only applies with --kube/);
  });

  it('caps the connection table at --conntrack-max, 65,536 by default, and names the flag when it is out of range', () => {
    expect(parseRunOptions(['--kube'], {}).kube?.conntrackMax).toBe(65_536);
    expect(parseRunOptions(['--kube', '--conntrack-max', '1000'], {}).kube?.conntrackMax).toBe(1000);
    expect(message(['--kube', '--conntrack-max', '8'])).toMatch(/^--conntrack-max: /);
    expect(message(['--kube', '--conntrack-max', 'lots'])).toMatch(/^--conntrack-max: /);
    expect(message([...base, '--conntrack-max', '1000'])).toMatch(/^--conntrack-max: only applies with --kube/);
  });

  it('provides pod networking: its own conflist by default with --kube, flannel’s subnet.env, or none', () => {
    expect(parseRunOptions([...base], {})).toMatchObject({ cni: 'none', ipMasq: false, subnetEnv: undefined });
    expect(parseRunOptions(['--kube', '--cni', 'flannel'], {})).toMatchObject({ cni: 'flannel', ipMasq: false, subnetEnv: '/run/flannel/subnet.env' });
    expect(parseRunOptions(['--kube', '--cni', 'flannel', '--ip-masq'], {})).toMatchObject({ ipMasq: true });
    expect(parseRunOptions(['--kube', '--no-ip-masq', '--cni-conf-dir', '/x'], {})).toMatchObject({ cni: 'vxroute', ipMasq: false, cniConfDir: '/x' });
    expect(message(['--kube', '--cni', 'calico'])).toMatch(/^--cni: "calico" is none of vxroute, flannel, none/);
    expect(message(['--kube', '--ip-masq', '--no-ip-masq'])).toMatch(/^--ip-masq: and --no-ip-masq exclude each other/);
  });

  it('takes DirectRouting from a flag, else from net-conf.json, else off', () => {
    const none = parseRunOptions(base, {});
    const on = parseRunOptions([...base, '--direct-routing'], {});
    const off = parseRunOptions(['--kube', '--no-direct-routing'], {});
    expect([resolveDirectRouting(none, undefined), resolveDirectRouting(on, undefined), resolveDirectRouting(none, { directRouting: true })]).toEqual([false, true, true]);
    expect([resolveDirectRouting(off, { directRouting: true }), resolveDirectRouting(on, { directRouting: false })]).toEqual([false, true]);
    expect(message([...base, '--direct-routing', '--no-direct-routing'])).toMatch(/^--direct-routing: and --no-direct-routing exclude each other/);
    expect(message([...base, '--mode', 'switch', '--direct-routing'])).toMatch(/^--direct-routing: applies to router mode only/);
  });

  it('names the flag and the fix', () => {
    expect(message([])).toMatch(/^--subnets: is required/);
    expect(message([...base, '--kube'])).toMatch(/^--kube: and --subnets exclude each other/);
    expect(message([...base, '--net-conf', 'n.json'])).toMatch(/^--net-conf: only applies with --kube/);
    expect(message([...base, '--port', '0'])).toMatch(/^--port: "0" must be an integer from 1 to 65535/);
    expect(message([...base, '--vni', '16777216'])).toMatch(/^--vni:/);
    expect(message([...base, '--workers', 'two'])).toMatch(/^--workers:/);
    expect(message([...base, '--mtu', '100'])).toMatch(/^--mtu: .*576/);
    expect(message([...base, '--public-ip', 'node1'])).toMatch(/^--public-ip:/);
    expect(message([...base, '--iface', 'a-name-far-too-long'])).toMatch(/^--iface:/);
    expect(message([...base, '--metrics-addr', '9475'])).toMatch(/^--metrics-addr: .*HOST:PORT/);
    expect(message([...base, '--bogus'])).toMatch(/^arguments: .*--bogus/);
  });

  it('takes switch mode with its defaults, and its flags only there', () => {
    const o = parseRunOptions([...base, '--mode', 'switch'], {});
    expect(o).toMatchObject({ mode: 'switch', switch: { bridge: 'cni0', fdbMax: 16_384, agingSeconds: 300, arpProxy: true }, cni: 'none', ipMasq: false });
    expect(parseRunOptions([...base, '--mode', 'switch', '--bridge', 'br1', '--fdb-max', '100', '--fdb-aging', '30', '--no-arp-proxy'], {}).switch).toEqual({ bridge: 'br1', fdbMax: 100, agingSeconds: 30, arpProxy: false });
    expect(parseRunOptions(base, {})).toMatchObject({ mode: 'router', switch: undefined });
    expect(message([...base, '--mode', 'hub'])).toMatch(/--mode: "hub" is neither router nor switch/);
    expect(message([...base, '--bridge', 'br1'])).toMatch(/--bridge: only applies with --mode switch/);
    expect(message([...base, '--mode', 'switch', '--fdb-max', '0'])).toMatch(/--fdb-max: "0" must be an integer from 16/);
    expect(parseRunOptions(['--kube', '--mode', 'switch'], {})).toMatchObject({ mode: 'switch', kube: { networkPolicy: true }, cni: 'none', ipMasq: false, subnetEnv: undefined });
    expect(message([...base, '--mode', 'switch', '--cni', 'vxroute'])).toMatch(/--cni: applies to router mode only/);
    expect(message([...base, '--mode', 'switch', '--iface', 'cni0'])).toMatch(/--iface: is the TAP device and must differ from --bridge/);
  });

  it('takes --send-path in either mode, auto by default, and names the flag for an unknown path', () => {
    for (const mode of ['router', 'switch']) {
      expect(parseRunOptions([...base, '--mode', mode], {}).sendPath).toBe('auto');
      for (const path of ['auto', 'tunnel-gso', 'cut']) expect(parseRunOptions([...base, '--mode', mode, '--send-path', path], {}).sendPath).toBe(path);
      expect(message([...base, '--mode', mode, '--send-path', 'gso'])).toMatch(/^--send-path: "gso" is none of auto, tunnel-gso, cut/);
    }
  });

  it('turns the TUN/TAP offloads off on request', () => {
    expect(parseRunOptions(base, {}).tunOffload).toBe(true);
    expect(parseRunOptions([...base, '--no-tun-offload'], {}).tunOffload).toBe(false);
    expect(parseRunOptions([...base, '--mode', 'switch'], {}).tunOffload).toBe(true);
    expect(parseRunOptions([...base, '--mode', 'switch', '--no-tun-offload'], {}).tunOffload).toBe(false);
  });

  it('sends each flow from its own source port unless --source-ports fixed', () => {
    expect(parseRunOptions(base, {}).sourcePorts).toBe('per-flow');
    expect(parseRunOptions([...base, '--source-ports', 'fixed'], {}).sourcePorts).toBe('fixed');
    expect(parseRunOptions([...base, '--mode', 'switch', '--source-ports=per-flow'], {}).sourcePorts).toBe('per-flow');
    expect(message([...base, '--source-ports', 'fix'])).toMatch(/^--source-ports: "fix" is none of per-flow, fixed \(fixed: every datagram from --port\)/);
    expect(message([...base, '--source-ports', '8472'])).toMatch(/^--source-ports: "8472"/);
    expect(message([...base, '--source-ports'])).toMatch(/^arguments: .*--source-ports/);
  });

  it('reads the TUN one readv per packet unless told --tun-reads uring, and refuses other readers', () => {
    expect(parseRunOptions(base, {}).tunReads).toBe('readv');
    expect(parseRunOptions([...base, '--tun-reads', 'readv'], {}).tunReads).toBe('readv');
    expect(parseRunOptions([...base, '--tun-reads=uring'], {}).tunReads).toBe('uring');
    expect(message([...base, '--tun-reads', 'mmap'])).toMatch(/^--tun-reads: "mmap" is neither uring nor readv/);
  });

  it('busy-polls only on request, for a bounded number of microseconds', () => {
    expect(parseRunOptions(base, {}).busyPollUs).toBe(0);
    expect(parseRunOptions([...base, '--busy-poll', '50'], {}).busyPollUs).toBe(50);
    expect(parseRunOptions([...base, '--mode', 'switch', '--busy-poll', '100000'], {}).busyPollUs).toBe(100_000);
    expect(message([...base, '--busy-poll=-5'])).toMatch(/^--busy-poll: "-5" must be an integer from 0 to 100000/);
    expect(message([...base, '--busy-poll', '100001'])).toMatch(/^--busy-poll: /);
    expect(message([...base, '--busy-poll', '50us'])).toMatch(/^--busy-poll: "50us"/);
    expect(message([...base, '--busy-poll'])).toMatch(/^arguments: .*--busy-poll/);
  });
});
