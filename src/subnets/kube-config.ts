// Which API server to talk to: --kubeconfig, else the in-cluster service account, else the
// user's kubeconfig ($KUBECONFIG or ~/.kube/config). The two ways the daemon runs — in-cluster,
// and a JSON kubeconfig with a token or client certificate — are read here; any other kubeconfig
// (YAML, exec plugins, auth providers) goes through @kubernetes/client-node's KubeConfig, whose
// import costs seconds and tens of MB (kube-api.ts), so only those runs pay it.
import { existsSync, readFileSync } from 'node:fs';
import type { RequestOptions } from 'node:http';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { ConfigError } from '../config-error.js';
import type { KubeConnection } from './kube-api.js';

/** Where a pod's service account is mounted (client-node's loadFromCluster reads the same). */
const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

/** A connection with static credentials; a token file is read at each request, as it rotates. */
class StaticConnection implements KubeConnection {
  constructor(
    private readonly cluster: { server: string; ca?: Buffer; skipTLSVerify?: boolean; tlsServerName?: string },
    private readonly user: { token?: string; tokenFile?: string; cert?: Buffer; key?: Buffer },
  ) {}

  getCurrentCluster(): { server: string } {
    return this.cluster;
  }

  applyToHTTPSOptions(opts: RequestOptions & { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean; servername?: string }): Promise<void> {
    const { cluster, user } = this;
    if (cluster.ca) opts.ca = cluster.ca;
    if (cluster.skipTLSVerify) opts.rejectUnauthorized = false;
    if (cluster.tlsServerName) opts.servername = cluster.tlsServerName;
    if (user.cert) opts.cert = user.cert;
    if (user.key) opts.key = user.key;
    const token = user.tokenFile ? readFileSync(user.tokenFile, 'utf8').trim() : user.token;
    if (token) opts.headers = { ...(opts.headers as Record<string, string>), Authorization: `Bearer ${token}` };
    return Promise.resolve();
  }
}

export async function loadKubeConfig(kubeconfig: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<KubeConnection> {
  try {
    if (kubeconfig !== undefined) return (await readJsonKubeconfig(kubeconfig)) ?? (await clientNodeConfig((kc) => kc.loadFromFile(kubeconfig)));
    if (env.KUBERNETES_SERVICE_HOST) return inCluster(env);
    if (env.KUBECONFIG || existsSync(join(homedir(), '.kube', 'config'))) return await clientNodeConfig((kc) => kc.loadFromDefault());
    throw new Error('not running in a cluster and no kubeconfig found; pass --kubeconfig FILE');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError('--kubeconfig', (err as Error).message, { cause: err });
  }
}

/** The pod's service account, as client-node's loadFromCluster reads it. */
function inCluster(env: NodeJS.ProcessEnv): KubeConnection {
  const host = env.KUBERNETES_SERVICE_HOST!;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const caFile = join(SERVICE_ACCOUNT, 'ca.crt');
  return new StaticConnection({ server, ca: existsSync(caFile) ? readFileSync(caFile) : undefined }, { tokenFile: join(SERVICE_ACCOUNT, 'token') });
}

interface KubeconfigFile {
  'current-context'?: string;
  clusters?: { name: string; cluster: Record<string, unknown> }[];
  users?: { name: string; user: Record<string, unknown> }[];
  contexts?: { name: string; context: { cluster: string; user: string } }[];
}

/** A JSON kubeconfig whose user has static credentials; undefined for anything else (client-node reads it). */
async function readJsonKubeconfig(path: string): Promise<KubeConnection | undefined> {
  let file: KubeconfigFile;
  try {
    file = JSON.parse(readFileSync(path, 'utf8')) as KubeconfigFile;
  } catch {
    return undefined; // YAML, or unreadable: client-node says what is wrong with it
  }
  const context = file.contexts?.find((c) => c.name === file['current-context'])?.context;
  const cluster = file.clusters?.find((c) => c.name === context?.cluster)?.cluster;
  const user = file.users?.find((u) => u.name === context?.user)?.user ?? {};
  if (!context || !cluster || typeof cluster.server !== 'string') throw new ConfigError('--kubeconfig', `${path} has no current cluster`);
  const known = new Set(['token', 'tokenFile', 'client-certificate', 'client-certificate-data', 'client-key', 'client-key-data']);
  if (Object.keys(user).some((k) => !known.has(k))) return undefined; // exec, auth-provider, basic auth, impersonation
  const clusterKnown = new Set(['server', 'certificate-authority', 'certificate-authority-data', 'insecure-skip-tls-verify', 'tls-server-name']);
  if (Object.keys(cluster).some((k) => !clusterKnown.has(k))) return undefined; // a proxy-url and the like
  const dir = dirname(path);
  const bytes = (file?: unknown, data?: unknown): Buffer | undefined =>
    typeof file === 'string' ? readFileSync(isAbsolute(file) ? file : join(dir, file)) : typeof data === 'string' ? Buffer.from(data, 'base64') : undefined;
  const tokenFile = user.tokenFile;
  return new StaticConnection(
    {
      server: cluster.server,
      ca: bytes(cluster['certificate-authority'], cluster['certificate-authority-data']),
      skipTLSVerify: cluster['insecure-skip-tls-verify'] === true,
      tlsServerName: typeof cluster['tls-server-name'] === 'string' ? cluster['tls-server-name'] : undefined,
    },
    {
      token: typeof user.token === 'string' ? user.token : undefined,
      tokenFile: typeof tokenFile === 'string' ? (isAbsolute(tokenFile) ? tokenFile : join(dir, tokenFile)) : undefined,
      cert: bytes(user['client-certificate'], user['client-certificate-data']),
      key: bytes(user['client-key'], user['client-key-data']),
    },
  );
}

async function clientNodeConfig(load: (kc: import('@kubernetes/client-node').KubeConfig) => void): Promise<KubeConnection> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  load(kc);
  if (!kc.getCurrentCluster()) throw new ConfigError('--kubeconfig', 'the kubeconfig has no current cluster');
  return kc;
}
