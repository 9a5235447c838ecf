// The daemon's one `nft -j -i` child, for reading the counters of its nftables tables (the guard's
// drops, the tunnel-GSO forward check): one fork, early, while the daemon is small, and no more
// (decisions.md "A new connection's first packet: no fork per scrape, …").
import { NftSession } from './nft-session.js';

export const nftReader = new NftSession("vxroute reads its nftables tables' counters with it");
