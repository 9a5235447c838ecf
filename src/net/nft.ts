// nftables, one `nft` run per change of vxroute's tables (start, a pod CIDR change, uninstall).
// Reads made while the daemon runs go through one long-lived child instead (nft-session.ts).
import { runHostTool } from './host-tool.js';

export const NFT_INSTALL = 'apt-get install -y nftables';

/** `purpose` says what vxroute needs nft for, for the message when it is missing. */
export function nft(args: readonly string[], purpose: string, input = ''): Promise<string> {
  return runHostTool('nft', args, input, `${NFT_INSTALL} (${purpose})`);
}
