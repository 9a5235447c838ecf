// `vxroute run` restarts node once, at its very start, with V8's young generation kept at 1 MB
// per semi-space (--max-semi-space-size=1) in the main thread and every worker. V8 doubles a
// semi-space whenever many objects survive a scavenge, up to 16 MB, and keeps it resident: listing
// 5,000 Nodes left the main thread with 32 MB of young generation for good, about a fifth of the
// daemon's resident set (docs/decisions.md, "5,000 nodes: where the resident memory goes").
// The daemon's steady work is small and the shards allocate nothing per packet, so a small young
// generation costs a few more scavenges at start only. V8 reads the size when an isolate is made,
// so only node's command line can set it (neither v8.setFlagsFromString nor a forced GC shrinks
// it afterwards); execv keeps the pid, environment and descriptors, so whatever started us
// (kubelet, systemd, a shell, `ip netns exec`) sees one process. The restart costs one more node
// start (tens of ms on an idle node, a second at load 20 on 2 cores); the image's ENTRYPOINT and
// the systemd unit give the flag themselves, so there it is skipped.
import { addon } from '../native/addon.js';

const FLAG = '--max-semi-space-size';
const SEMI_SPACE_MB = 1;

/** Re-executes node with the flag, unless its command line or NODE_OPTIONS already sets one. */
export function restartWithSmallYoungGeneration(): void {
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  if (given.some((a) => a.startsWith(FLAG))) return;
  addon.exec(process.execPath, [process.execPath, ...process.execArgv, `${FLAG}=${SEMI_SPACE_MB}`, ...process.argv.slice(1)]);
}
