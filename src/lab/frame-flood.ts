// Raw Ethernet frames from inside a namespace, through an AF_PACKET socket (Python's standard
// library has it; Node has none): a flood of frames with random source MACs, as a misbehaving
// or hostile pod would send to fill a switch's forwarding database.
import { inNs } from './netns.js';

const FLOOD = `
import os, socket, struct, sys, time
iface, count, dst, pause = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3].replace(':', '')), float(sys.argv[4])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
payload = bytes(46)
sent = 0
while sent < count:
    src = bytearray(os.urandom(6))
    src[0] = (src[0] & 0xfe) | 0x02  # unicast, locally administered
    try:
        s.send(dst + bytes(src) + struct.pack('!H', 0x88b5) + payload)  # IEEE 802 local experimental EtherType
        sent += 1
    except BlockingIOError:
        pass
    if sent % 256 == 0:
        time.sleep(pause)  # paced, so that the frames reach the switch rather than overflow a queue
print(sent)
`;

/** Sends `count` frames to `dstMac` from random unicast source MACs out of `iface` in `ns`, pausing `pauseS` every 256; resolves with how many were sent. */
export async function floodRandomSources(ns: string, iface: string, count: number, dstMac: string, pauseS = 0.002): Promise<number> {
  const out = await inNs(ns, 'python3', ['-c', FLOOD, iface, String(count), dstMac, String(pauseS)]);
  return Number(out.trim());
}

/** The MAC address of `iface` in `ns`. */
export async function macOf(ns: string, iface: string): Promise<string> {
  const [link] = JSON.parse(await inNs(ns, 'ip', ['-j', 'link', 'show', iface])) as { address: string }[];
  return link.address;
}
