// Sums every worker's counter block into one view, at the moment someone asks.
import { CounterLayout, PeerSlot, WorkerSlot } from '../datapath/counters.js';
import { DROP_REASONS, type DropReason } from '../datapath/drop-reasons.js';
import type { PeerIds } from '../datapath/peer-ids.js';

export interface PeerCounters {
  name: string;
  txPackets: number;
  txBytes: number;
  rxPackets: number;
  rxBytes: number;
}

export interface CounterSnapshot {
  peers: PeerCounters[];
  drops: Record<DropReason, number>;
  workers: { index: number; tunBatches: number; udpBatches: number }[];
}

export function snapshotCounters(layout: CounterLayout, sab: SharedArrayBuffer, peers: PeerIds): CounterSnapshot {
  const blocks = Array.from({ length: layout.workers }, (_, w) => layout.block(sab, w));
  const sum = (slot: number): number => blocks.reduce((acc, b) => acc + b[slot], 0);
  const drops = Object.fromEntries(DROP_REASONS.map((r, i) => [r, sum(i)])) as Record<DropReason, number>;
  const peerRows: PeerCounters[] = [];
  for (const [name, id] of peers.entries()) {
    peerRows.push({
      name,
      txPackets: sum(layout.peerSlot(id, PeerSlot.txPackets)),
      txBytes: sum(layout.peerSlot(id, PeerSlot.txBytes)),
      rxPackets: sum(layout.peerSlot(id, PeerSlot.rxPackets)),
      rxBytes: sum(layout.peerSlot(id, PeerSlot.rxBytes)),
    });
  }
  peerRows.sort((a, b) => (a.name < b.name ? -1 : 1));
  const workers = blocks.map((b, index) => ({ index, tunBatches: b[WorkerSlot.tunBatches], udpBatches: b[WorkerSlot.udpBatches] }));
  return { peers: peerRows, drops, workers };
}

/** Zeroes a reused peer id's slots in every block (the id's old owner has left the table). */
export function resetPeerCounters(layout: CounterLayout, sab: SharedArrayBuffer, peerId: number): void {
  for (let w = 0; w < layout.workers; w++) {
    layout.block(sab, w).fill(0, layout.peerSlot(peerId, 0), layout.peerSlot(peerId + 1, 0));
  }
}
