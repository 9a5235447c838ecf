import { describe, expect, it } from 'vitest';
import { namespaceFromApi, nodeFromApi, podFromApi } from './from-api.js';

describe('API objects trimmed for NetworkPolicy', () => {
  it('keeps a running pod\'s IPs, labels, node and container ports, protocol defaulting to TCP', () => {
    const pod = podFromApi({
      metadata: { namespace: 'x', name: 'a', labels: { pod: 'a' } },
      spec: { nodeName: 'n1', containers: [{ name: 'c', ports: [{ name: 'serve-80-tcp', containerPort: 80 }, { name: 'serve-81-udp', containerPort: 81, protocol: 'UDP' }] }] },
      status: { phase: 'Running', podIPs: [{ ip: '10.244.1.5' }, { ip: 'fd00:10:244:1::5' }] },
    });
    expect(pod).toEqual({
      namespace: 'x',
      name: 'a',
      labels: { pod: 'a' },
      ips: ['10.244.1.5', 'fd00:10:244:1::5'],
      nodeName: 'n1',
      hostNetwork: false,
      ports: [
        { name: 'serve-80-tcp', port: 80, protocol: 'TCP' },
        { name: 'serve-81-udp', port: 81, protocol: 'UDP' },
      ],
    });
  });

  it('gives a finished pod no IP: its address may already be another pod\'s', () => {
    for (const phase of ['Succeeded', 'Failed']) expect(podFromApi({ metadata: { name: 'p' }, status: { phase, podIP: '10.244.1.9' } }).ips).toEqual([]);
    expect(podFromApi({ metadata: { name: 'p' }, status: { phase: 'Pending', podIP: '10.244.1.9' } }).ips).toEqual(['10.244.1.9']);
  });

  it('marks hostNetwork pods, which count as their node', () => {
    expect(podFromApi({ metadata: { name: 'p' }, spec: { hostNetwork: true, containers: [] } }).hostNetwork).toBe(true);
  });

  it('labels every namespace with its name, as the API server does', () => {
    expect(namespaceFromApi({ metadata: { name: 'y', labels: { team: 'b' } } }).labels).toEqual({ 'kubernetes.io/metadata.name': 'y', team: 'b' });
  });

  it('takes a node\'s internal and external addresses, not its hostname', () => {
    const node = nodeFromApi({ metadata: { name: 'n1' }, status: { addresses: [{ type: 'Hostname', address: 'n1' }, { type: 'InternalIP', address: '192.0.2.1' }, { type: 'InternalIP', address: '2001:db8::1' }] } });
    expect(node).toEqual({ name: 'n1', addresses: ['192.0.2.1', '2001:db8::1'] });
  });
});
