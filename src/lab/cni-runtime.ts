// What a container runtime does with a CNI conflist, following the CNI spec 1.0: each plugin is
// exec'd (here inside the node's namespace) with CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS,
// CNI_IFNAME and CNI_PATH, its configuration on stdin with `name`, `cniVersion` and the previous
// plugin's result as `prevResult`; ADD and CHECK walk the list forward, DEL backward.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';

export const CNI_PLUGIN_DIR = '/usr/lib/cni'; // Debian's containernetworking-plugins

export interface CniResult {
  cniVersion: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number }[];
  routes?: { dst: string; gw?: string }[];
}

interface Conflist {
  cniVersion: string;
  name: string;
  plugins: ({ type: string; ipam?: Record<string, unknown> } & Record<string, unknown>)[];
}

export class CniRuntime {
  /** ADD results, by container id: DEL and CHECK hand them back as prevResult. */
  private readonly results = new Map<string, CniResult>();

  constructor(
    private readonly conflistPath: string,
    /** host-local keeps its leases here instead of the host's /var/lib/cni (test isolation). */
    private readonly ipamDataDir: string,
  ) {}

  async add(nodeNs: string, podNs: string, containerId: string): Promise<CniResult> {
    const list = await this.conflist();
    let result: CniResult | undefined;
    for (const plugin of list.plugins) result = await this.exec('ADD', list, plugin, nodeNs, podNs, containerId, result);
    this.results.set(containerId, result!);
    return result!;
  }

  async check(nodeNs: string, podNs: string, containerId: string): Promise<void> {
    const list = await this.conflist();
    for (const plugin of list.plugins) await this.exec('CHECK', list, plugin, nodeNs, podNs, containerId, this.results.get(containerId));
  }

  async del(nodeNs: string, podNs: string, containerId: string): Promise<void> {
    const list = await this.conflist();
    for (const plugin of [...list.plugins].reverse()) await this.exec('DEL', list, plugin, nodeNs, podNs, containerId, this.results.get(containerId));
    this.results.delete(containerId);
  }

  private async conflist(): Promise<Conflist> {
    return JSON.parse(await readFile(this.conflistPath, 'utf8')) as Conflist;
  }

  private exec(command: string, list: Conflist, plugin: Conflist['plugins'][number], nodeNs: string, podNs: string, containerId: string, prevResult: CniResult | undefined): Promise<CniResult> {
    const conf = {
      ...plugin,
      cniVersion: list.cniVersion,
      name: list.name,
      ...(plugin.ipam ? { ipam: { ...plugin.ipam, dataDir: this.ipamDataDir } } : {}),
      ...(prevResult ? { prevResult } : {}),
    };
    const env = { CNI_COMMAND: command, CNI_CONTAINERID: containerId, CNI_NETNS: `/var/run/netns/${podNs}`, CNI_IFNAME: 'eth0', CNI_PATH: CNI_PLUGIN_DIR, PATH: process.env.PATH ?? '' };
    return new Promise((resolve, reject) => {
      const child = execFile('ip', ['netns', 'exec', nodeNs, `${CNI_PLUGIN_DIR}/${plugin.type}`], { env }, (err, stdout, stderr) => {
        if (err) return reject(new Error(`CNI ${command} ${plugin.type} for ${containerId}: ${stdout.trim() || stderr.trim() || err.message}`));
        resolve(stdout.trim() === '' ? (prevResult as CniResult) : (JSON.parse(stdout) as CniResult));
      });
      child.stdin!.end(JSON.stringify(conf));
    });
  }
}
