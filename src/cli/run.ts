// `vxroute run`: validate everything, then set up the host and start the shards; on
// SIGTERM/SIGINT or a failure, undo in reverse order what was done. The subnet table comes
// from a static file or the Kubernetes API; either way the datapath forwards on the last good one.
// The first lists go out before the daemon's modules (the datapath, the addon, the policy
// compiler, the metrics server) are loaded: those load while the lists are in flight.
import { once } from 'node:events';
import { KubePolicySource } from '../policy/kube-policy-source.js';
import { loadKubeConfig } from '../subnets/kube-config.js';
import { nodeListWatch } from '../subnets/kube-nodes.js';
import { KubeSubnetSource } from '../subnets/kube-source.js';
import { readNetConf } from '../subnets/net-conf.js';
import { StaticFileSource } from '../subnets/static-source.js';
import type { SubnetSource } from '../subnets/subnet-source.js';
import { createLogger } from './log.js';
import type { Undo } from './mode.js';
import { parseRunOptions, resolveDatapath, resolveDirectRouting } from './run-options.js';
import { StartPhases } from './start-phases.js';
import { TableQueue } from './table-queue.js';

export async function runCommand(argv: string[]): Promise<number> {
  const phases = new StartPhases();
  phases.end('process start and imports');
  const opts = parseRunOptions(argv);
  const log = createLogger(opts.logLevel);
  const netConf = opts.kube ? await readNetConf(opts.kube.netConf) : undefined;
  const settings = { ...resolveDatapath(opts, netConf), directRouting: resolveDirectRouting(opts, netConf) };
  const kc = opts.kube ? await loadKubeConfig(opts.kube.kubeconfig) : undefined;
  // One Node list-watch for the subnet table and NetworkPolicy alike.
  const nodes = kc && nodeListWatch(kc);
  const source: SubnetSource =
    kc && netConf
      ? new KubeSubnetSource(kc, { nodeName: opts.nodeName, networks: { v4: netConf.network, v6: netConf.networkV6 }, vni: settings.vni, publicIP: opts.publicIP }, log, nodes)
      : new StaticFileSource(opts.subnets!, log, { peersOnly: opts.mode === 'switch' });
  const policy = kc && opts.kube?.networkPolicy ? new KubePolicySource(kc, log, nodes) : undefined;

  const undo: Undo[] = [() => source.stop()];
  if (nodes) undo.push(() => nodes.stop());
  if (policy) undo.push(() => policy.stop());
  const stop = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const onSignal = (): void => {
      log.info({ signal }, 'stopping');
      stop.abort(signal);
    };
    process.on(signal, onSignal);
    undo.push(() => void process.off(signal, onSignal));
  }
  let exitCode = 0;
  try {
    // Tables that come while the host is set up wait in the queue (the newest wins) until the datapath runs.
    const tables = new TableQueue((err, why) => log.error({ err, why }, 'table not applied; still forwarding on the last good table'));
    source.onTable((table, why, changed) => {
      log.debug({ nodes: table.nodes.length, why }, 'table received');
      tables.push(table, why, changed);
    });
    const first = { table: source.start(), world: policy?.start() };
    first.table.then(() => phases.end('node list'), () => undefined); // the daemon awaits both
    first.world?.then(() => phases.end('policy lists'), () => undefined);
    const { Daemon } = await import('./daemon.js');
    phases.end('daemon modules loaded');
    const daemon = new Daemon(opts, settings, log, source, policy, kc, undo, stop, phases, tables);
    await daemon.start(first);
    if (!stop.signal.aborted) await once(stop.signal, 'abort');
    if (stop.signal.reason instanceof Error) {
      log.error({ err: stop.signal.reason }, 'datapath failed');
      exitCode = 1;
    }
  } finally {
    stop.abort();
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch (err) {
        log.error({ err }, 'cleanup step failed');
        exitCode = 1;
      }
    }
    log.info('stopped');
  }
  return exitCode;
}
