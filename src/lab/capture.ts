// Captures on the underlay with tcpdump and decodes with tshark: an independent reading of our
// frames by Wireshark's VXLAN dissector (RFC 7348), not by our own codecs.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { inNs, tryInNs } from './netns.js';

/** IEEE 802 "local experimental" EtherType 1: the frame that marks the end of a capture. */
const END_ETHERTYPE = 0x88b5;

/**
 * Sends one broadcast frame of END_ETHERTYPE out of `iface` and waits until tcpdump has written it:
 * frames pass the capture tap in order, so everything `during` sent is in the file by then.
 * (Node has no packet sockets; python3 is there for node-gyp.)
 */
async function endOfCapture(ns: string, iface: string, file: string): Promise<void> {
  const frame = `bytes.fromhex('ffffffffffff020000000001${END_ETHERTYPE.toString(16)}') + bytes(46)`;
  await inNs(ns, 'python3', ['-c', `import socket; s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind((${JSON.stringify(iface)}, 0)); s.send(${frame})`]);
  for (let tries = 0; (await tryInNs(ns, 'tcpdump', ['-r', file, '-n', `ether proto ${END_ETHERTYPE}`])).stdout.trim() === ''; tries++) {
    if (tries === 500) throw new Error(`tcpdump on ${iface} in ${ns} did not record the end-of-capture frame`);
  }
}

export interface VxlanFrame {
  outerSrc: string;
  outerDst: string;
  udpDstPort: number;
  vni: number;
  innerSrcMac: string;
  innerDstMac: string;
  innerSrc: string;
  innerDst: string;
}

/** Records `udp port <port>` on `iface` in `ns` while `during` runs; returns the frames as tshark decodes them. */
export async function captureVxlan(ns: string, iface: string, dir: string, during: () => Promise<unknown>, port = 8472): Promise<VxlanFrame[]> {
  const fields = ['ip.src', 'ip.dst', 'udp.dstport', 'vxlan.vni', 'eth.src', 'eth.dst'];
  const rows = await captureFields(ns, iface, dir, during, fields, port);
  // Outer then inner occurrence of each repeated field.
  return rows.map(([ips, dsts, dport, vni, srcMacs, dstMacs]) => ({
    outerSrc: ips[0], innerSrc: ips[1], outerDst: dsts[0], innerDst: dsts[1],
    udpDstPort: Number(dport[0]), vni: Number(vni[0]), innerSrcMac: srcMacs[1], innerDstMac: dstMacs[1],
  }));
}

/**
 * Records VXLAN on `iface` while `during` runs and returns, per frame, every occurrence of each
 * tshark field (outer before inner), with UDP checksums verified (`udp.checksum.status` 1: good).
 */
export async function captureFields(ns: string, iface: string, dir: string, during: () => Promise<unknown>, fields: string[], port = 8472): Promise<string[][][]> {
  const file = join(dir, `capture-${Date.now()}.pcap`);
  const tcpdump = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-i', iface, '-n', '-Z', 'root', '--immediate-mode', '-U', '-w', file, `udp port ${port} or ether proto ${END_ETHERTYPE}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    tcpdump.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (stderr.includes('listening on')) resolve();
    });
    tcpdump.once('exit', () => reject(new Error(`tcpdump failed: ${stderr} (apt-get install -y tcpdump)`)));
    tcpdump.once('error', reject);
  });
  try {
    await during();
    await endOfCapture(ns, iface, file);
  } finally {
    tcpdump.kill('SIGINT');
    await once(tcpdump, 'exit');
  }
  const out = await inNs(ns, 'tshark', [
    '-r', file, '-Y', `!(eth.type == ${END_ETHERTYPE})`, '-d', `udp.port==${port},vxlan`, '-o', 'udp.check_checksum:TRUE', '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a', '-E', 'aggregator=,',
    ...fields.flatMap((f) => ['-e', f]),
  ]);
  return out
    .split('\n')
    .filter((line) => line.includes('|'))
    .map((line) => line.split('|').map((f) => f.split(',')));
}
