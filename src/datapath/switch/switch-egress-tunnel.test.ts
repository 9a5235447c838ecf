// Switch mode's frames through the tunnel-GSO send path, over loopback: the switch egress and a
// real UdpSocket whose tunnel state writes frames to /dev/null (the kernel takes any write there,
// as a TAP takes a well-formed one), two IPv4 peers at 127.0.0.2 and 127.0.0.3. A pod's run of TCP
// segments to a known station becomes one frame; the same segments flooded to both peers (an
// unknown destination) stay datagrams, every copy arriving; a VLAN-tagged run stays datagrams.
import { createSocket, type Socket } from 'node:dgram';
import { closeSync, openSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ipv4 } from '../../../test/flow-packets.js';
import { NOW, PEER_B, PEER_C, STATION_A, STATION_B, switchWorld } from '../../../test/stage-worlds.js';
import { HEADROOM } from '../../packet/constants.js';
import { addon } from '../../native/addon.js';
import type { RouteRecord } from '../shared-table.js';
import type { ShardCounters } from '../counters.js';
import { PacketBatch } from '../packet-batch.js';
import { UdpSocket } from '../udp-socket.js';
import { SendList } from './send-list.js';
import { forwardFrames } from './switch-egress.js';

const SEGMENTS = 8;
const PAYLOAD = 1000;
const PEERS = ['127.0.0.2', '127.0.0.3'];
const UNKNOWN = Buffer.from('020000000999', 'hex');

/** The table of a node whose two peers B and C are on the IPv4 loopback (only their underlay matters to the switch). */
function loopbackPeers(): RouteRecord[] {
  return [PEER_B, PEER_C].map((peerId, k) => {
    const underlay = Buffer.alloc(4);
    underlay.writeUInt32BE(0x7f000002 + k);
    return { family: 0, prefix: Buffer.alloc(0), prefixLen: 0, underlayFamily: 4, underlay, vtepMAC: Buffer.alloc(6), peerId } as RouteRecord;
  });
}

/** A pod's run of one TCP flow: SEGMENTS frames to `dst`, contiguous sequence numbers, ACK only, DF; `vlan` inserts an 802.1Q tag. */
function run(dst: Buffer, vlan = false): PacketBatch {
  const b = new PacketBatch(SEGMENTS, 2048);
  for (let k = 0; k < SEGMENTS; k++) {
    const tcp = Buffer.alloc(20 + PAYLOAD, k);
    tcp.writeUInt16BE(40000, 0);
    tcp.writeUInt16BE(5201, 2);
    tcp.writeUInt32BE(1000 + k * PAYLOAD, 4);
    tcp.writeUInt32BE(77, 8);
    tcp[12] = 5 << 4;
    tcp[13] = 0x10;
    tcp.writeUInt16BE(512, 14);
    tcp.fill(0, 16, 20); // checksum and urgent pointer: the payload's filler stops at the header
    const ip = ipv4('10.244.1.5', '10.244.2.5', 6, tcp);
    ip[6] = 0x40;
    const eth = Buffer.concat([dst, STATION_A, vlan ? Buffer.from([0x81, 0x00, 0x00, 0x05, 0x08, 0x00]) : Buffer.from([0x08, 0x00])]);
    const frame = Buffer.concat([eth, ip]);
    frame.copy(b.slab, k * b.slotSize + HEADROOM);
    b.sizes[k] = frame.length;
  }
  return b;
}

describe('switch egress through the tunnel-GSO send path (loopback)', () => {
  const tunnel = { frames: 0, segments: 0, fallbacks: 0, unfit: 0 };
  const counters = {
    udpGso: () => undefined,
    udpRuns: () => undefined,
    tunnelGso(_family: number, frames: number, segments: number, fallbacks: number, unfit: number) {
      tunnel.frames += frames;
      tunnel.segments += segments;
      tunnel.fallbacks += fallbacks;
      tunnel.unfit += unfit;
    },
  } as unknown as ShardCounters;
  const received = new Map<string, number>();
  let receivers: Socket[];
  let port: number;
  let udpFd: number;
  let sink: number;

  /** Forwards `b` and sends what the egress queued for IPv4; returns the datagrams that left by sendmmsg. */
  const forward = (b: PacketBatch): number => {
    const w = switchWorld(SEGMENTS, b.slab, undefined, loopbackPeers());
    w.fdb.now = NOW;
    const on = new SharedArrayBuffer(8);
    new Int32Array(on)[0] = 1;
    const socket = new UdpSocket(udpFd, 4, port, 1450, counters, () => undefined, [], {
      tapFd: sink, mac: '02:00:00:00:00:fe', on, v4: { local: '127.0.0.1', maxDatagram: 1472 }, v6: undefined,
    });
    const list = new SendList(socket, b.slab);
    w.egress.send4 = list;
    w.egress.send6 = undefined;
    forwardFrames(b, SEGMENTS, w.egress);
    const queued = list.count;
    list.flush();
    return queued - list.failed;
  };
  const reset = () => {
    Object.assign(tunnel, { frames: 0, segments: 0, fallbacks: 0, unfit: 0 });
    received.clear();
  };

  beforeAll(async () => {
    receivers = PEERS.map(() => createSocket('udp4'));
    await new Promise<void>((resolve) => receivers[0].bind(0, PEERS[0], resolve));
    port = receivers[0].address().port;
    await new Promise<void>((resolve) => receivers[1].bind(port, PEERS[1], resolve));
    receivers.forEach((r, k) => r.on('message', () => received.set(PEERS[k], (received.get(PEERS[k]) ?? 0) + 1)));
    udpFd = addon.udpOpen(4, '127.0.0.1', 0);
    sink = openSync('/dev/null', 'w');
  });
  afterAll(() => {
    for (const r of receivers) r.close();
    addon.close(udpFd);
    closeSync(sink);
  });

  it('sends a run to a known station as ONE frame', () => {
    reset();
    const sent = forward(run(STATION_B));
    expect(tunnel).toEqual({ frames: 1, segments: SEGMENTS, fallbacks: 0, unfit: 0 });
    expect(sent).toBe(SEGMENTS);
    expect(received.size).toBe(0); // nothing went by sendmmsg (the frame went to the sink)
  });

  it('sends the same run flooded to two peers as datagrams, every copy arriving', async () => {
    reset();
    const sent = forward(run(UNKNOWN));
    expect(tunnel.frames).toBe(0);
    expect(sent).toBe(2 * SEGMENTS);
    await vi.waitFor(() => expect(Object.fromEntries(received)).toEqual({ [PEERS[0]]: SEGMENTS, [PEERS[1]]: SEGMENTS }));
  });

  it('sends a VLAN-tagged run to a known station as datagrams, counted unfit', async () => {
    reset();
    const sent = forward(run(STATION_B, true));
    expect(tunnel.frames).toBe(0);
    expect(tunnel.unfit).toBeGreaterThan(0);
    expect(sent).toBe(SEGMENTS);
    await vi.waitFor(() => expect(Object.fromEntries(received)).toEqual({ [PEERS[0]]: SEGMENTS }));
  });
});
