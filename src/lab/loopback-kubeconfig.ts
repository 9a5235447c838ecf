// A client configuration for the test API server listening on loopback (plain HTTP, a dummy token).
import { KubeConfig } from '@kubernetes/client-node';

export function loopbackKubeConfig(port: number): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'lab', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'lab', token: 'lab' }],
    contexts: [{ name: 'lab', cluster: 'lab', user: 'lab' }],
    currentContext: 'lab',
  });
  return kc;
}
