// Child of test/udp-gso.test.ts, run inside the test's namespace: one sending and one receiving
// socket per family on loopback. Each line on stdin, {"size":n,"count":k}, sends k datagrams of n
// random bytes per family in one sendBatch and receives them; the answer line gives per family what
// was sent, received and intact (each sent datagram found once), and the sending socket's state words (its counts then zeroed).
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';

const { addon, UdpState, UDP_STATE_WORDS, RecvState, RECV_SCRATCH_BYTES, RECV_STATE_WORDS } = await import(process.argv[2]);
const SLOT = 2048;
const LOOPBACK = { 4: { bind: '127.0.0.1', words: [0x7f000001, 0, 0, 0] }, 6: { bind: '::1', words: [0, 0, 0, 1] } };

const sockets = [4, 6].map((family) => {
  const tx = addon.udpOpen(family, LOOPBACK[family].bind, 0);
  const rx = addon.udpOpen(family, LOOPBACK[family].bind, 0);
  const state = new Int32Array(UDP_STATE_WORDS);
  addon.udpGsoProbe(tx, state);
  return { family, tx, rx, port: addon.localPort(rx), state, scratch: Buffer.alloc(RECV_SCRATCH_BYTES), recvState: new Int32Array(RECV_STATE_WORDS) };
});

function round({ size, count }, s) {
  const slab = Buffer.alloc(count * SLOT);
  const offsets = new Int32Array(count);
  const lengths = new Int32Array(count).fill(size);
  const addrs = new Uint32Array(count * 4);
  for (let i = 0; i < count; i++) {
    offsets[i] = i * SLOT;
    randomBytes(size).copy(slab, offsets[i]);
    addrs.set(LOOPBACK[s.family].words, i * 4);
  }
  const waiting = new Set(Array.from({ length: count }, (_, i) => slab.toString('base64', i * SLOT, i * SLOT + size)));
  const sent = addon.sendBatch(s.tx, s.family, slab, offsets, lengths, addrs, s.port, count, s.state);
  const rx = Buffer.alloc(count * SLOT);
  const sizes = new Int32Array(count);
  const from = new Uint32Array(count * 4);
  let received = 0;
  let intact = 0;
  while (received < count && (s.recvState[RecvState.messages] > 0 || addon.poll(Int32Array.of(s.rx), 1, 2000) === 1)) {
    const n = addon.recvBatch(s.rx, rx, SLOT, 0, count - received, sizes, from, s.scratch, s.recvState, SLOT);
    for (let k = 0; k < n; k++, received++) {
      if (sizes[k] === size && waiting.delete(rx.toString('base64', k * SLOT, k * SLOT + size))) intact++;
    }
  }
  const state = [...s.state];
  s.state[UdpState.gsoRuns] = s.state[UdpState.unsupportedRuns] = s.state[UdpState.tooLargeRuns] = 0;
  return { sent, received, intact, state };
}

for await (const line of createInterface({ input: process.stdin })) {
  const ask = JSON.parse(line);
  console.log(JSON.stringify(Object.fromEntries(sockets.map((s) => [s.family, round(ask, s)]))));
}
