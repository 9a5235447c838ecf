// `vxroute policy explain`: why a connection between two pods is allowed or denied, from the
// same world the daemon enforces (pods, namespaces, nodes and NetworkPolicies read from the API).
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { ConfigError } from '../config-error.js';
import { explainFlow, formatExplanation, type FlowEnd } from '../policy/explain.js';
import { readPolicyWorld } from '../policy/kube-policy-source.js';
import type { PolicyProtocol } from '../policy/world.js';
import { loadKubeConfig } from '../subnets/kube-config.js';

export const POLICY_USAGE = `Usage: vxroute policy explain --from NS/POD --to NS/POD --port PORT/PROTO [options]

Prints whether NetworkPolicy lets the first packet of a connection from one pod to another
through, every policy that selects either pod, and for each of their rules why it matched or
did not (peers, namespaces, ipBlocks, ports, named ports). Read from the Kubernetes API, as
\`vxroute run --kube\` reads it.

Options:
  --from NS/POD         the client: a pod, or an IP address (outside the cluster, or a node)
  --to NS/POD           the server: a pod, or an IP address
  --port PORT/PROTO     the server's port and protocol, e.g. 80/TCP, 53/UDP, 3868/SCTP
                        (PROTO defaults to TCP)
  --family 4|6          the address family, for pods with both (default 4)
  --kubeconfig FILE     (default: in-cluster config, else $KUBECONFIG or ~/.kube/config)
  --json                the explanation as JSON
  -h, --help            show this help

Exit status: 0 allowed, 1 denied, 2 bad arguments or no answer from the API server.
`;

const PROTOCOLS: readonly PolicyProtocol[] = ['TCP', 'UDP', 'SCTP'];

export async function policyCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'explain') throw new ConfigError('policy', `${sub === undefined ? 'needs a subcommand' : `has no subcommand "${sub}"`}: use vxroute policy explain (see vxroute policy --help)`);
  let values;
  try {
    ({ values } = parseArgs({
      args: rest, strict: true, allowPositionals: false,
      options: { from: { type: 'string' }, to: { type: 'string' }, port: { type: 'string' }, family: { type: 'string', default: '4' }, kubeconfig: { type: 'string' }, json: { type: 'boolean', default: false } },
    }));
  } catch (err) {
    throw new ConfigError('arguments', `${(err as Error).message} (see vxroute policy --help)`, { cause: err });
  }
  const from = flowEnd('--from', values.from);
  const to = flowEnd('--to', values.to);
  const { port, protocol } = portOf(values.port);
  if (values.family !== '4' && values.family !== '6') throw new ConfigError('--family', `"${values.family}" is neither 4 nor 6`);
  const kc = await loadKubeConfig(values.kubeconfig);
  let world;
  try {
    world = await readPolicyWorld(kc);
  } catch (err) {
    throw new ConfigError('--kubeconfig', `could not list pods, namespaces, nodes and networkpolicies from ${kc.getCurrentCluster()?.server}: ${(err as Error).message}`, { cause: err });
  }
  const explanation = explainFlow(world, from, to, { port, protocol, family: Number(values.family) as 4 | 6 });
  process.stdout.write(values.json ? `${JSON.stringify(explanation, null, 2)}\n` : formatExplanation(explanation));
  return explanation.verdict === 'allow' ? 0 : 1;
}

function flowEnd(flag: string, text: string | undefined): FlowEnd {
  if (text === undefined) throw new ConfigError(flag, 'is required: NAMESPACE/POD, or an IP address');
  if (isIP(text)) return text;
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(text);
  if (!m) throw new ConfigError(flag, `"${text}" is neither NAMESPACE/POD (e.g. default/web-0) nor an IP address`);
  return { namespace: m[1], name: m[3] };
}

function portOf(text: string | undefined): { port: number; protocol: PolicyProtocol } {
  if (text === undefined) throw new ConfigError('--port', 'is required: PORT/PROTO, e.g. 80/TCP');
  const [p, proto = 'TCP'] = text.split('/');
  const port = Number(p);
  if (!/^\d+$/.test(p) || port < 1 || port > 65535) throw new ConfigError('--port', `"${p}" is no port number (1–65535)`);
  const protocol = proto.toUpperCase() as PolicyProtocol;
  if (!PROTOCOLS.includes(protocol)) throw new ConfigError('--port', `"${proto}" is no protocol NetworkPolicy knows (TCP, UDP or SCTP)`);
  return { port, protocol };
}
