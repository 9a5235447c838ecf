// `vxroute run` where io_uring is refused, as Docker's default seccomp profile refuses it (the
// filter of test/no-io-uring.c, loaded before main), asked for `--tun-reads uring`: the daemon says
// so and reads its TUN one readv per packet; beside it a node asked for `--tun-reads readv`. Pings and a TCP stream
// between them arrive intact. All inside namespaces this test creates (see src/lab/lab.ts).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, type LabNode } from '../src/lab/lab.js';
import { ping, tcpTransfer } from '../src/lab/traffic.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';

const MiB = 1 << 20;

describe('TUN reads without io_uring', () => {
  let lab: Lab;
  let a: LabNode;
  let b: LabNode;
  let refused: VxrouteProcess;
  let asked: VxrouteProcess;

  beforeAll(async () => {
    lab = await Lab.create();
    const shim = join(lab.dir, 'no-io-uring.so');
    await promisify(execFile)('cc', ['-shared', '-fPIC', '-O1', '-Wall', '-o', shim, fileURLToPath(new URL('./no-io-uring.c', import.meta.url))]);
    a = await lab.addNode('vxroute');
    b = await lab.addNode('vxroute');
    const subnets = await lab.writeSubnets();
    refused = await lab.startVxroute(a, subnets, ['--workers', '2', '--tun-reads', 'uring'], undefined, { ...process.env, LD_PRELOAD: shim });
    asked = await lab.startVxroute(b, subnets, ['--workers', '2', '--tun-reads', 'readv']);
  });
  afterAll(async () => {
    await lab?.dispose();
  });

  it('falls back to readv, says why, and forwards pings and a TCP stream intact', async () => {
    const warning = refused.logs.find((l) => /io_uring refused/.test(String(l.msg)));
    expect(warning).toMatchObject({ errno: 'EPERM' });
    for (const d of [refused, asked]) expect(d.logs.find((l) => l.tunReads !== undefined)).toMatchObject({ tunReads: 'readv', msg: 'TUN reads one readv per packet' });
    const r = await ping(a.pods[0].ns, b.pods[0].ip, 20, 0.01);
    expect(r.received).toBe(20);
    for (const [from, to] of [[a, b], [b, a]]) {
      const t = await tcpTransfer(to.pods[0].ns, to.pods[0].ip, from.pods[0].ns, 16 * MiB);
      expect(t.receivedBytes).toBe(16 * MiB);
      expect(t.receivedSha256).toBe(t.sentSha256);
    }
    for (const d of [refused, asked]) {
      const c = await d.counters();
      expect(Object.values(c.drops).reduce((x, y) => x + y, 0)).toBe(0);
    }
  });
});
