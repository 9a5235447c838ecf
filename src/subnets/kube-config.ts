// Which API server to talk to: --kubeconfig, else the in-cluster service account, else the
// user's kubeconfig ($KUBECONFIG or ~/.kube/config).
import { KubeConfig } from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../config-error.js';

export function loadKubeConfig(kubeconfig: string | undefined, env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (kubeconfig !== undefined) kc.loadFromFile(kubeconfig);
    else if (env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
    else if (env.KUBECONFIG || existsSync(join(homedir(), '.kube', 'config'))) kc.loadFromDefault();
    else throw new Error('not running in a cluster and no kubeconfig found; pass --kubeconfig FILE');
  } catch (err) {
    throw new ConfigError('--kubeconfig', (err as Error).message, { cause: err });
  }
  if (!kc.getCurrentCluster()) throw new ConfigError('--kubeconfig', `${kubeconfig ?? 'the kubeconfig'} has no current cluster`);
  return kc;
}
