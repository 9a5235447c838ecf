import { describe, expect, it } from 'vitest';
import { formatMappedIp } from '../address/ip-text.js';
import { destOptions, echo, fragmentHeader, ICMP, ICMPV6, icmpError, ipv4, ipv6, SCTP, sctp, TCP, tcp, TCP_ACK, TCP_SYN, UDP, udp } from '../../test/flow-packets.js';
import { FLOW_LATER_FRAGMENT, FLOW_MALFORMED, FLOW_OWN, FLOW_RELATED, FLOW_TRUNCATED, FlowTuple, readFlow } from './flow-tuple.js';

function read(p: Buffer, len = p.length): { status: number; t: FlowTuple } {
  const t = new FlowTuple();
  // Inside a larger buffer, so that a read past the packet would find bytes rather than undefined.
  const buf = Buffer.alloc(p.length + 200, 0x5a);
  p.copy(buf, 100);
  return { status: readFlow(buf, 100, len, t), t };
}

const flow = (t: FlowTuple) => ({ src: formatMappedIp(t.src), dst: formatMappedIp(t.dst), protocol: t.protocol, srcPort: t.srcPort, dstPort: t.dstPort });

describe('readFlow', () => {
  it('names TCP, UDP and SCTP flows by addresses and ports, IPv4 mapped', () => {
    const a = read(ipv4('10.244.1.5', '10.244.2.7', TCP, tcp(40000, 80, TCP_SYN)));
    expect(a.status).toBe(FLOW_OWN);
    expect(flow(a.t)).toEqual({ src: '10.244.1.5', dst: '10.244.2.7', protocol: TCP, srcPort: 40000, dstPort: 80 });
    expect(a.t.tcpFlags).toBe(TCP_SYN);
    const u = read(ipv4('10.244.1.5', '10.244.2.7', UDP, udp(5353, 53)));
    expect(flow(u.t)).toMatchObject({ protocol: UDP, srcPort: 5353, dstPort: 53 });
    const s = read(ipv6('fd00:10:244:1::5', 'fd00:10:244:2::7', SCTP, sctp(7000, 81)));
    expect(s.status).toBe(FLOW_OWN);
    expect(flow(s.t)).toEqual({ src: 'fd00:10:244:1::5', dst: 'fd00:10:244:2::7', protocol: SCTP, srcPort: 7000, dstPort: 81 });
  });

  it('skips IPv6 extension headers to the transport header', () => {
    const r = read(ipv6('fd00:10:244:1::5', 'fd00:10:244:2::7', TCP, tcp(1234, 443, TCP_ACK), [destOptions(), destOptions()]));
    expect(r.status).toBe(FLOW_OWN);
    expect(flow(r.t)).toMatchObject({ protocol: TCP, srcPort: 1234, dstPort: 443 });
  });

  it('takes the echo identifier as both ports of an ICMP and ICMPv6 echo flow', () => {
    const req = read(ipv4('10.244.1.5', '10.244.2.7', ICMP, echo(8, 0x1234)));
    expect(req.status).toBe(FLOW_OWN);
    expect(req.t.echoRequest).toBe(true);
    expect(flow(req.t)).toMatchObject({ protocol: ICMP, srcPort: 0x1234, dstPort: 0x1234 });
    const reply = read(ipv4('10.244.2.7', '10.244.1.5', ICMP, echo(0, 0x1234)));
    expect(reply.t.echoRequest).toBe(false);
    expect(reply.t.srcPort).toBe(0x1234);
    const v6 = read(ipv6('fd00:10:244:1::5', 'fd00:10:244:2::7', ICMPV6, echo(128, 77)));
    expect(v6.t.echoRequest).toBe(true);
    expect(v6.t.dstPort).toBe(77);
  });

  it('follows an ICMP error to the flow of the TCP, UDP or echo packet it quotes', () => {
    const sent = ipv4('10.244.1.5', '10.244.2.7', TCP, tcp(40000, 80, TCP_SYN));
    const err = read(ipv4('10.244.2.7', '10.244.1.5', ICMP, icmpError(3, 3, sent, 28)));
    expect(err.status).toBe(FLOW_RELATED);
    expect(flow(err.t)).toEqual({ src: '10.244.1.5', dst: '10.244.2.7', protocol: TCP, srcPort: 40000, dstPort: 80 });
    // From a router in between: the error's source is neither end.
    const udpSent = ipv4('10.244.1.5', '10.244.2.7', UDP, udp(5000, 53));
    const ttl = read(ipv4('192.0.2.9', '10.244.1.5', ICMP, icmpError(11, 0, udpSent)));
    expect(ttl.status).toBe(FLOW_RELATED);
    expect(flow(ttl.t)).toMatchObject({ protocol: UDP, srcPort: 5000, dstPort: 53 });
    const ping = ipv4('10.244.1.5', '10.244.2.7', ICMP, echo(8, 99));
    const unreach = read(ipv4('10.244.2.7', '10.244.1.5', ICMP, icmpError(3, 1, ping)));
    expect(unreach.status).toBe(FLOW_RELATED);
    expect(flow(unreach.t)).toMatchObject({ protocol: ICMP, srcPort: 99, dstPort: 99 });
  });

  it('follows ICMPv6 errors, packet too big included, through the quoted packet\'s extension headers', () => {
    const sent = ipv6('fd00:10:244:1::5', 'fd00:10:244:2::7', TCP, tcp(40000, 80, TCP_ACK, 1200), [destOptions()]);
    const ptb = read(ipv6('fd00:10:244:2::1', 'fd00:10:244:1::5', ICMPV6, icmpError(2, 0, sent, 1232)));
    expect(ptb.status).toBe(FLOW_RELATED);
    expect(flow(ptb.t)).toEqual({ src: 'fd00:10:244:1::5', dst: 'fd00:10:244:2::7', protocol: TCP, srcPort: 40000, dstPort: 80 });
    // Cut right after the ports: enough.
    expect(read(ipv6('fd00:10:244:2::1', 'fd00:10:244:1::5', ICMPV6, icmpError(1, 4, sent, 40 + 8 + 4))).status).toBe(FLOW_RELATED);
    // Cut inside the quoted extension header, or before the ports: not enough.
    expect(read(ipv6('fd00:10:244:2::1', 'fd00:10:244:1::5', ICMPV6, icmpError(1, 4, sent, 40 + 4))).status).toBe(FLOW_TRUNCATED);
    expect(read(ipv6('fd00:10:244:2::1', 'fd00:10:244:1::5', ICMPV6, icmpError(1, 4, sent, 40 + 8 + 3))).status).toBe(FLOW_TRUNCATED);
  });

  it('refuses an error quoting a packet its destination did not send, an error quoting an error, or one cut inside the quoted ports', () => {
    const sent = ipv4('10.244.1.5', '10.244.2.7', UDP, udp(5000, 53));
    expect(read(ipv4('10.244.2.7', '10.244.1.6', ICMP, icmpError(3, 3, sent))).status).toBe(FLOW_MALFORMED);
    const inner = ipv4('10.244.2.7', '10.244.1.5', ICMP, icmpError(3, 3, sent));
    expect(read(ipv4('10.244.1.5', '10.244.2.7', ICMP, icmpError(3, 3, inner))).status).toBe(FLOW_MALFORMED);
    expect(read(ipv4('10.244.2.7', '10.244.1.5', ICMP, icmpError(3, 3, sent, 23))).status).toBe(FLOW_TRUNCATED);
    expect(read(ipv4('10.244.2.7', '10.244.1.5', ICMP, icmpError(3, 3, sent, 19))).status).toBe(FLOW_TRUNCATED);
  });

  it('marks fragments: the first has ports and an id, later ones only the id', () => {
    const first = read(ipv4('10.244.1.5', '10.244.2.7', UDP, udp(5000, 53, 100), { id: 0xbeef, offset: 0, more: true }));
    expect(first.status).toBe(FLOW_OWN);
    expect(first.t.firstFragment).toBe(true);
    expect(first.t.fragmentId).toBe(0xbeef);
    expect(first.t.dstPort).toBe(53);
    const later = read(ipv4('10.244.1.5', '10.244.2.7', UDP, Buffer.alloc(64), { id: 0xbeef, offset: 14, more: false }));
    expect(later.status).toBe(FLOW_LATER_FRAGMENT);
    expect(later.t.fragmentId).toBe(0xbeef);
    const v6first = read(ipv6('fd00::1', 'fd00::2', UDP, udp(1, 2, 100), [fragmentHeader({ id: 0x80000001, offset: 0, more: true })]));
    expect(v6first.status).toBe(FLOW_OWN);
    expect(v6first.t.firstFragment).toBe(true);
    expect(v6first.t.fragmentId).toBe(0x80000001 | 0);
    const v6later = read(ipv6('fd00::1', 'fd00::2', UDP, Buffer.alloc(64), [fragmentHeader({ id: 0x80000001, offset: 16, more: false })]));
    expect(v6later.status).toBe(FLOW_LATER_FRAGMENT);
    expect(v6later.t.fragmentId).toBe(0x80000001 | 0);
  });

  it('reports truncation at every cut of a TCP packet short of its flags', () => {
    const p = ipv4('10.244.1.5', '10.244.2.7', TCP, tcp(40000, 80, TCP_SYN));
    for (let len = 0; len < 20 + 14; len++) {
      const cut = Buffer.from(p.subarray(0, len));
      if (len >= 4) cut.writeUInt16BE(len, 2); // the IP header agrees: the transport header is what is short
      expect(read(cut).status, `cut at ${len}`).toBe(FLOW_TRUNCATED);
    }
  });

  it('never reads past `len`: an IP total length beyond it is a truncation', () => {
    const p = ipv4('10.244.1.5', '10.244.2.7', UDP, udp(1, 2));
    expect(read(p, p.length - 1).status).toBe(FLOW_TRUNCATED);
    const six = ipv6('fd00::1', 'fd00::2', UDP, udp(1, 2), [destOptions()]);
    expect(read(six, six.length - 1).status).toBe(FLOW_TRUNCATED);
  });

  it('gives protocols without ports one flow per address pair', () => {
    const gre = read(ipv4('10.244.1.5', '10.244.2.7', 47, Buffer.alloc(8)));
    expect(gre.status).toBe(FLOW_OWN);
    expect(flow(gre.t)).toMatchObject({ protocol: 47, srcPort: 0, dstPort: 0 });
  });
});
