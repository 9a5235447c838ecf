#!/usr/bin/env node
// Captures the fuzzers' seeds from real traffic (as root; `npm run build` first): two namespaces
// joined by two TUN queues opened with IFF_VNET_HDR, and a relay that copies what one queue reads
// into the other, as it is, virtio_net_hdr included. A TCP transfer through them gives
//   - with TUNSETOFFLOAD on the sender's side: TSO reads (native/fuzz/corpus/tso_split), reads
//     without GSO whose checksum is left to us (plain_read), and those packets alone, their
//     checksum holding only the pseudo-header sum (partial_checksum);
//   - without it: the MSS-sized segments a peer sends, in batches as coalescing gets them (gso_coalesce).
// Each seed is a mode byte (0: a TUN) and the harness's input; the seeds are kept to a few KB.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { createNamespace, deleteNamespacesSync, inNs, labId } from '../dist/src/lab/netns.js';
import { tcpTransfer } from '../dist/src/lab/traffic.js';

const corpus = fileURLToPath(new URL('../native/fuzz/corpus/', import.meta.url));
const addon = fileURLToPath(new URL('../dist/src/native/addon.js', import.meta.url));

// The relay, run inside namespace A: argv = addon path, corpus dir, mode ('tso' | 'segments').
const RELAY = `
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
const [addonPath, corpus, mode] = process.argv.slice(1);
const { addon, TUN_VNET_HDR, TUN_TSO } = await import(addonPath);
const a = addon.tunOpen('fza', TUN_VNET_HDR | (mode === 'tso' ? TUN_TSO : 0));
const b = addon.tunOpen('fzb', TUN_VNET_HDR | TUN_TSO);
const SLOT = 70000, MAX_SEED = 16384, KEEP = 8, BATCH = 8;
const slab = Buffer.alloc(SLOT), sizes = new Int32Array(1), offsets = new Int32Array([0]), lengths = new Int32Array(1);
const fds = new Int32Array([a.fd, b.fd]);
const kept = { tso_split: 0, plain_read: 0, partial_checksum: 0, gso_coalesce: 0 };
let batch = [];
const keep = (harness, bytes) => {
  if (kept[harness] >= KEEP || bytes.length > MAX_SEED) return;
  writeFileSync(corpus + harness + '/' + mode + '-' + kept[harness]++, bytes);
};
const record = (raw) => {
  const flags = raw[0], gsoType = raw[1], packet = raw.subarray(10);
  if (mode === 'tso') {
    if (gsoType !== 0) keep('tso_split', Buffer.concat([Buffer.from([0]), raw]));
    else if (flags & 1) {
      keep('plain_read', Buffer.concat([Buffer.from([0]), raw]));
      keep('partial_checksum', Buffer.concat([Buffer.from([0]), packet]));
    }
    return;
  }
  if (packet.length < 100) return; // segments with data, not bare ACKs
  batch.push(packet);
  if (batch.length < BATCH) return;
  keep('gso_coalesce', Buffer.concat([Buffer.from([0]), ...batch.flatMap((p) => [Buffer.from([p.length >> 8, p.length & 255]), p])]));
  batch = [];
};
let stopping = false;
createInterface({ input: process.stdin }).on('line', () => { stopping = true; });
console.log('open');
const pump = () => {
  for (let turn = 0; turn < 64; turn++) {
    const ready = addon.poll(fds, 2, 0);
    if (ready === 0) break;
    for (let k = 0; k < 2; k++) {
      if (!(ready & (1 << k))) continue;
      if (addon.readBatch(fds[k], slab, SLOT, 0, 1, sizes) !== 1) continue;
      if (k === 0) record(Buffer.from(slab.subarray(0, sizes[0])));
      lengths[0] = sizes[0];
      addon.writeBatch(fds[1 - k], slab, offsets, lengths, 1); // the raw read, virtio_net_hdr and all
    }
  }
  if (stopping) {
    console.log(JSON.stringify(kept));
    process.exit(0);
  }
  setImmediate(pump);
};
pump();
`;

async function capture(mode) {
  const id = labId();
  const [nsA, nsB] = [`${id}-fa`, `${id}-fb`];
  const namespaces = [nsA, nsB];
  let relay;
  try {
    for (const ns of namespaces) {
      await createNamespace(ns);
      await inNs(ns, 'ip', ['link', 'set', 'lo', 'up']);
    }
    relay = spawn('ip', ['netns', 'exec', nsA, process.execPath, '--input-type=module', '-e', RELAY, addon, corpus, mode], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: relay.stdout })[Symbol.asyncIterator]();
    if ((await lines.next()).value !== 'open') throw new Error('the relay did not open its queues');
    await inNs(nsA, 'ip', ['link', 'set', 'fzb', 'netns', nsB]);
    for (const [ns, dev, own, other] of [[nsA, 'fza', '10.244.1.1', '10.244.2.0/24'], [nsB, 'fzb', '10.244.2.1', '10.244.1.0/24']]) {
      await inNs(ns, 'ip', ['addr', 'add', `${own}/32`, 'dev', dev]);
      await inNs(ns, 'ip', ['link', 'set', dev, 'mtu', '1280', 'up']);
      await inNs(ns, 'ip', ['route', 'add', other, 'dev', dev]);
    }
    const t = await tcpTransfer(nsB, '10.244.2.1', nsA, 1 << 20);
    if (t.receivedSha256 !== t.sentSha256) throw new Error('the transfer through the relay arrived damaged');
    relay.stdin.write('stop\n');
    console.log(`${mode}: kept ${(await lines.next()).value}`);
  } finally {
    relay?.kill('SIGKILL');
    deleteNamespacesSync(namespaces);
  }
}

if (process.getuid?.() !== 0) throw new Error('scripts/fuzz-corpus.mjs needs root: it builds network namespaces');
for (const harness of ['tso_split', 'plain_read', 'partial_checksum', 'gso_coalesce']) {
  rmSync(corpus + harness, { recursive: true, force: true });
  mkdirSync(corpus + harness, { recursive: true });
}
await capture('tso');
await capture('segments');
for (const harness of readdirSync(corpus)) console.log(`${harness}: ${readdirSync(corpus + harness).length} seeds`);
