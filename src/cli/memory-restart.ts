// `vxroute run` restarts node once, at its very start, with two settings that only a fresh process
// image reads, unless whatever started it gave both (the image's ENTRYPOINT and ENV, the systemd
// unit do):
// - V8's young generation kept at 1 MB per semi-space (--max-semi-space-size=1) in the main thread
//   and every worker. V8 doubles a semi-space whenever many objects survive a scavenge, up to
//   16 MB, and keeps it resident: listing 5,000 Nodes left the main thread with 32 MB of young
//   generation for good, about a fifth of the daemon's resident set (docs/decisions.md, "5,000
//   nodes: where the resident memory goes"). The daemon's steady work is small and the shards
//   allocate nothing per packet, so a small young generation costs a few more scavenges at start
//   only. V8 sizes it when an isolate is made (neither v8.setFlagsFromString nor a forced GC
//   shrinks it afterwards), so only node's command line can set it.
// - glibc's malloc arenas capped at two (MALLOC_ARENA_MAX, read at the first malloc; mallopt(3)).
//   glibc gives a thread that finds the arenas busy one of its own, up to eight per core, and an
//   arena keeps what it once held: at 5,000 nodes after 100 changes, the arenas beside the main
//   one held 16–25 MB (the main one 5–6); capped at two, the other one 6–9 MB (the main one
//   10–14): 2–8 MB less in all (docs/decisions.md, "5,000 nodes: memory over changes"). The packet path does not
//   malloc (the addon's batch calls keep their arrays on the stack, the shards allocate nothing).
// execv keeps the pid, environment and descriptors, so whatever started us (kubelet, systemd, a
// shell, `ip netns exec`) sees one process. The restart costs one more node start (tens of ms on
// an idle node, a second at load 20 on 2 cores).
import { addon } from '../native/addon.js';

const SEMI_SPACE_FLAG = '--max-semi-space-size';
const SEMI_SPACE_MB = 1;
const MALLOC_ARENA_MAX = 2;

/** Re-executes node with what is missing of the flag and the variable; returns when neither is. */
export function restartWithMemorySettings(): void {
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  const hasFlag = given.some((a) => a.startsWith(SEMI_SPACE_FLAG));
  if (hasFlag && process.env.MALLOC_ARENA_MAX !== undefined) return;
  process.env.MALLOC_ARENA_MAX ??= String(MALLOC_ARENA_MAX); // node's setenv: execv passes it on
  const flags = hasFlag ? [] : [`${SEMI_SPACE_FLAG}=${SEMI_SPACE_MB}`];
  addon.exec(process.execPath, [process.execPath, ...process.execArgv, ...flags, ...process.argv.slice(1)]);
}
