// `vxroute run`: validate everything, then set up the host and start the shards, all under one
// AbortController; on SIGTERM/SIGINT or a failure, undo in reverse order what was done.
import { once } from 'node:events';
import type { Server } from 'node:http';
import { ConfigError } from '../config-error.js';
import { addon } from '../native/addon.js';
import { ENCAP_OVERHEAD_V4, HEADROOM } from '../packet/constants.js';
import { CounterLayout } from '../datapath/counters.js';
import { PeerIds } from '../datapath/peer-ids.js';
import { routesFromTable } from '../datapath/routes-from-table.js';
import { ShardPool } from '../datapath/shard-pool.js';
import { allocateTable, SharedTableWriter } from '../datapath/shared-table.js';
import { resetPeerCounters, snapshotCounters } from '../metrics/counter-snapshot.js';
import { startHttpServer } from '../metrics/http-server.js';
import { applyOverlay, enableAcceptLocal, removeOverlay, replaceAddress, restoreAcceptLocal, type OverlaySetup } from '../net/host-routes.js';
import { lockDevice } from '../net/instance-lock.js';
import { linkWithAddress } from '../net/links.js';
import { closeTun, openTun } from '../net/tun-device.js';
import { parseIpv4 } from '../packet/ipv4.js';
import { StaticFileSource } from '../subnets/static-source.js';
import { findNode, type NodeLease, type SubnetTable } from '../subnets/subnet-table.js';
import { createLogger, type Logger } from './log.js';
import { parseRunOptions, type RunOptions } from './run-options.js';

const MAX_PEERS = 16_384;
const MAX_ROUTES = 2 * MAX_PEERS;
const BATCH_SIZE = 64;

type Undo = () => Promise<void> | void;

export async function runCommand(argv: string[]): Promise<number> {
  const opts = parseRunOptions(argv);
  const log = createLogger(opts.logLevel);
  const source = new StaticFileSource(opts.subnets);
  const table = await source.load();
  const self = ownLease(table, opts);
  const publicIP = opts.publicIP ?? self.publicIP;
  const underlay = await linkWithAddress(publicIP);
  if (!underlay) log.warn({ publicIP }, 'no local interface holds the public IP (behind NAT?); assuming underlay MTU 1500');
  const underlayMtu = underlay?.mtu ?? 1500;
  const mtu = opts.mtu ?? underlayMtu - ENCAP_OVERHEAD_V4;
  if (mtu > underlayMtu - ENCAP_OVERHEAD_V4) {
    throw new ConfigError('--mtu', `${mtu} leaves no room for VXLAN's ${ENCAP_OVERHEAD_V4}-byte overhead on ${underlay?.ifname ?? 'the underlay'} (MTU ${underlayMtu}); use at most ${underlayMtu - ENCAP_OVERHEAD_V4}`);
  }

  const undo: Undo[] = [];
  const stop = new AbortController();
  let exitCode = 0;
  try {
    await start(opts, log, source, table, { mtu, underlayMtu }, undo, stop);
    await once(stop.signal, 'abort');
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

async function start(
  opts: RunOptions,
  log: Logger,
  source: StaticFileSource,
  initial: SubnetTable,
  sizes: { mtu: number; underlayMtu: number },
  undo: Undo[],
  stop: AbortController,
): Promise<void> {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const onSignal = (): void => {
      log.info({ signal }, 'stopping');
      stop.abort(signal);
    };
    process.on(signal, onSignal);
    undo.push(() => void process.off(signal, onSignal));
  }

  const lock = await lockDevice(opts.iface);
  undo.push(() => void lock.close());

  // Sockets first: a port in use (a kernel vxlan device on 8472?) fails before any device exists.
  const udpFds: number[] = [];
  undo.push(() => udpFds.forEach((fd) => addon.close(fd)));
  for (let i = 0; i < opts.workers; i++) udpFds.push(addon.udpOpen(4, '0.0.0.0', opts.port));

  const tun = await openTun(opts.iface, opts.workers);
  undo.push(() => closeTun(tun));
  let self = ownLease(initial, opts);
  let overlay = overlaySetup(opts, tun.name, sizes.mtu, initial, self);
  undo.push(() => removeOverlay(overlay));
  await applyOverlay(overlay);
  const acceptLocal = await enableAcceptLocal(tun.name);
  undo.push(() => restoreAcceptLocal(tun.name, acceptLocal));

  const layout = new CounterLayout(opts.workers, MAX_PEERS);
  const countersSab = layout.allocate();
  const tableSab = allocateTable(MAX_ROUTES);
  const writer = new SharedTableWriter(tableSab);
  const peers = new PeerIds(MAX_PEERS);

  const publish = (table: SubnetTable): number => {
    const { routes, reused } = routesFromTable(table, opts.nodeName, peers);
    for (const id of reused) resetPeerCounters(layout, countersSab, id);
    return writer.publish(routes);
  };
  const version = publish(initial);
  log.info({ version, nodes: initial.nodes.length }, 'table loaded');

  const pool = new ShardPool(
    udpFds.map((udpFd, index) => ({
      index,
      tunFd: tun.fds[index],
      udpFd,
      table: tableSab,
      counters: countersSab,
      workers: opts.workers,
      maxPeers: MAX_PEERS,
      vni: opts.vni,
      port: opts.port,
      ownMac: self.vtepMAC,
      tunAddressV4: parseIpv4(overlay.address),
      maxInnerV4: sizes.underlayMtu - ENCAP_OVERHEAD_V4,
      batchSize: BATCH_SIZE,
      slotSize: Math.ceil((HEADROOM + Math.max(sizes.mtu, sizes.underlayMtu)) / 64) * 64,
    })),
  );
  undo.push(() => pool.stop());
  pool.exited.catch((err: Error) => stop.abort(err));

  let ready = false;
  if (opts.metrics) {
    const server: Server = await startHttpServer(opts.metrics.host, opts.metrics.port, {
      counters: () => snapshotCounters(layout, countersSab, peers),
      notReady: () => (ready ? undefined : 'datapath starting'),
    });
    undo.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  }

  const reload = async (why: string): Promise<void> => {
    try {
      const table = await source.load();
      const next = ownLease(table, opts);
      const nextOverlay = overlaySetup(opts, tun.name, sizes.mtu, table, next);
      if (next.vtepMAC.compare(self.vtepMAC) !== 0) {
        log.warn({ vtepMAC: next.vtepMAC }, 'our own VTEP MAC changed in the table; restart vxroute to use it');
      }
      await replaceAddress(nextOverlay, overlay.address);
      overlay = nextOverlay;
      self = next;
      const v = publish(table);
      pool.wake();
      log.info({ version: v, nodes: table.nodes.length, why }, 'table loaded');
    } catch (err) {
      log.error({ err, why }, 'table not reloaded; still forwarding on the last good table');
    }
  };
  const onHup = (): void => void reload('SIGHUP');
  process.on('SIGHUP', onHup);
  undo.push(() => void process.off('SIGHUP', onHup));
  source.watch(() => void reload('file changed'), stop.signal);

  ready = true;
  log.info({ iface: tun.name, adopted: tun.adopted, workers: opts.workers, mtu: sizes.mtu, port: opts.port, vni: opts.vni, address: overlay.address }, 'ready');
}

function ownLease(table: SubnetTable, opts: RunOptions): NodeLease {
  const self = findNode(table, opts.nodeName);
  if (!self) {
    const known = table.nodes.map((n) => n.name).join(', ');
    throw new ConfigError('--node-name', `"${opts.nodeName}" is not a node of ${opts.subnets} (nodes: ${known || 'none'}); pass --node-name or set NODE_NAME`);
  }
  return self;
}

function overlaySetup(opts: RunOptions, device: string, mtu: number, table: SubnetTable, self: NodeLease): OverlaySetup {
  return { device, mtu, address: self.podCIDR.text.split('/')[0], network: table.network.text };
}
