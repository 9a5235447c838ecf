// Moving a pod's veth between two nodes' bridges, as a pod rescheduled with its MAC and IP
// kept: the host end leaves one node's cni0 and joins another's, and is used once it forwards.
import { inNs } from './netns.js';

/** Moves the host end `port` of a pod's veth from `fromNs` to `toNs`, renamed `as`, into cni0; resolves once it forwards. */
export async function replugPort(fromNs: string, port: string, toNs: string, as: string): Promise<void> {
  await inNs(fromNs, 'ip', ['link', 'set', port, 'down']);
  if (as !== port) await inNs(fromNs, 'ip', ['link', 'set', port, 'name', as]);
  await inNs(fromNs, 'ip', ['link', 'set', as, 'netns', toNs]);
  await inNs(toNs, 'ip', ['link', 'set', as, 'master', 'cni0', 'up']);
  await waitForForwarding(toNs, as);
}

/** A new bridge port learns and listens before it forwards (STP is off: no delay, but check). */
async function waitForForwarding(ns: string, port: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const [link] = JSON.parse(await inNs(ns, 'ip', ['-j', '-d', 'link', 'show', port])) as { linkinfo?: { info_slave_data?: { state?: string } } }[];
    if (link.linkinfo?.info_slave_data?.state === 'forwarding') return;
  }
  throw new Error(`${port} in ${ns} never reached the forwarding state`);
}
