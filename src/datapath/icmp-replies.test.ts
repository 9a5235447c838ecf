import { describe, expect, it } from 'vitest';
import { parseIpv4 } from '../address/ip-text.js';
import { IPPROTO_UDP } from '../packet/constants.js';
import { writeIpv4Header } from '../packet/ipv4.js';
import { IcmpReplies } from './icmp-replies.js';

describe('ICMP replies', () => {
  const packet = Buffer.alloc(60);
  writeIpv4Header(packet, 0, 60, 1, 64, IPPROTO_UDP, parseIpv4('10.244.1.2'), parseIpv4('10.244.99.1'), true);

  const offer = (icmp: IcmpReplies, n: number): number => {
    let sent = 0;
    for (let i = 0; i < n; i++) {
      icmp.netUnreachableV4(packet, 0, 60);
      sent += icmp.count;
      icmp.count = 0; // the shard writes the batch out
    }
    return sent;
  };

  it('answers a burst of 20, then 100 per second', () => {
    const icmp = new IcmpReplies(64, parseIpv4('10.244.1.0'), new Uint8Array(16));
    icmp.tick(1000);
    expect(offer(icmp, 100)).toBe(20);
    icmp.tick(1050); // 50 ms earn 5 tokens
    expect(offer(icmp, 100)).toBe(5);
    icmp.tick(5000); // a long pause refills to the burst, not beyond
    expect(offer(icmp, 100)).toBe(20);
  });

  it('holds at most one batch and no error about an error', () => {
    const icmp = new IcmpReplies(4, parseIpv4('10.244.1.0'), new Uint8Array(16));
    icmp.tick(1000);
    for (let i = 0; i < 10; i++) icmp.netUnreachableV4(packet, 0, 60);
    expect(icmp.count).toBe(4);
    const reply = icmp.slab.subarray(icmp.offsets[0], icmp.offsets[0] + icmp.lengths[0]);
    icmp.count = 0;
    icmp.netUnreachableV4(reply, 0, reply.length);
    expect(icmp.count).toBe(0);
  });
});
