// The sequence every whole-packet path is tested with under NetworkPolicy: an echo connection is
// allowed, then denied while 256 KiB is sent, then allowed again. The denied window leaves its
// sender as packets of several segments (a pod's TSO reads, a cut sender's UDP GSO runs,
// tunnel-GSO frames, a kernel node's TSO packets): each is held whole in one slot and dropped
// there, counted as the segments it stands for. Once allowed, TCP's retransmissions carry all of
// it, written whole. An open connection is judged again under the new policies.
import { spawn } from 'node:child_process';
import { expect, vi } from 'vitest';
import type { Lab } from '../src/lab/lab.js';
import type { VxrouteProcess } from '../src/lab/vxroute-process.js';

const BULK = 256 * 1024;

export interface DeniedStream {
  lab: Lab;
  /** The client pod's namespace, and `ip:port` of an echo server (socat `EXEC:cat`) listening there. */
  clientNs: string;
  server: string;
  /** Replace the policies (resolving once every judging daemon has them in force). */
  allow(): Promise<void>;
  deny(): Promise<void>;
  /** The judging daemon's counts: packets held whole in one slot, segments denied, whole writes. */
  wholeWrites(): Promise<number>;
  /** By default the judge's IPv4 GRO buffers (packets that arrived whole) and its ingress denials. */
  judge?: VxrouteProcess;
  held?(): Promise<number>;
  denied?(): Promise<number>;
  /** The daemon writes nothing whole while the stream is denied (nothing else flows whole through it). */
  noWholeWritesWhileDenied?: boolean;
  wait: { timeout: number; interval: number };
}

export async function expectDeniedPerSegmentThenWhole(stream: DeniedStream): Promise<void> {
  const { judge } = stream;
  const s = {
    held: async () => (await judge!.counters()).udp.find((f) => f.family === 4)!.groBuffers,
    denied: async () => (await judge!.counters()).drops.policy_denied_ingress,
    ...stream,
  };
  await s.allow();
  const client = spawn('ip', ['netns', 'exec', s.clientNs, 'socat', '-', `TCP:${s.server},connect-timeout=5`]);
  s.lab.onDispose(() => client.kill('SIGKILL'));
  let echoed = 0;
  client.stdout.on('data', (chunk: Buffer) => (echoed += chunk.length));
  client.stdin.write('one\n');
  await vi.waitFor(() => expect(echoed).toBe(4), s.wait);

  await s.deny();
  const [heldBefore, deniedBefore, wholeBefore] = [await s.held(), await s.denied(), await s.wholeWrites()];
  client.stdin.write(Buffer.alloc(BULK, 7));
  await vi.waitFor(async () => {
    const held = (await s.held()) - heldBefore;
    expect(held).toBeGreaterThan(0);
    expect((await s.denied()) - deniedBefore).toBeGreaterThanOrEqual(2 * held);
  }, s.wait);
  expect(echoed).toBe(4);
  const wholeWhileDenied = await s.wholeWrites();
  if (s.noWholeWritesWhileDenied) expect(wholeWhileDenied).toBe(wholeBefore);

  await s.allow();
  await vi.waitFor(() => expect(echoed).toBe(4 + BULK), { timeout: 30_000, interval: 200 });
  expect(await s.wholeWrites()).toBeGreaterThan(wholeWhileDenied);
  client.kill('SIGKILL');
}
