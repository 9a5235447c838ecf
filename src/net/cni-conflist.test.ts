// The conflist: both families' ranges and default routes, written atomically and only on change.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCidr } from '../subnets/cidr.js';
import { CONFLIST_NAME, formatConflist, writeConflist } from './cni-conflist.js';

describe('CNI conflist', () => {
  const dirs: string[] = [];
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('gives host-local one range set and one default route per family', () => {
    const conf = JSON.parse(formatConflist({ podCIDR: parseCidr('10.244.1.0/24'), podCIDRv6: parseCidr('fd00:10:244:1::/64'), mtu: 1430 }));
    expect(conf.plugins[0]).toMatchObject({
      type: 'bridge', mtu: 1430,
      ipam: { type: 'host-local', ranges: [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:10:244:1::/64' }]], routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0' }] },
    });
  });

  it('is rewritten when a pod CIDR or the MTU changes, and left alone otherwise', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vxroute-cni-'));
    dirs.push(dir);
    const settings = { podCIDR: parseCidr('10.244.1.0/24'), podCIDRv6: undefined, mtu: 1450 };
    expect(await writeConflist(join(dir, 'net.d'), settings)).toBe(true); // creates the directory too
    const path = join(dir, 'net.d', CONFLIST_NAME);
    const first = await stat(path);
    expect(await writeConflist(join(dir, 'net.d'), settings)).toBe(false);
    expect((await stat(path)).mtimeMs).toBe(first.mtimeMs);
    expect(await writeConflist(join(dir, 'net.d'), { ...settings, mtu: 1400 })).toBe(true);
    expect(JSON.parse(await readFile(path, 'utf8')).plugins[0].mtu).toBe(1400);
    expect(await writeConflist(join(dir, 'net.d'), { ...settings, podCIDR: parseCidr('10.244.9.0/24'), mtu: 1400 })).toBe(true);
    expect(JSON.parse(await readFile(path, 'utf8')).plugins[0].ipam.ranges).toEqual([[{ subnet: '10.244.9.0/24' }]]);
  });
});
