// `vxroute run` lets V8's old generation grow by 10 % over what its last full collection kept
// before it collects again, not by V8's own factor (up to 4× on a heap it collects quickly): the
// daemon's main thread keeps about 30 MB live at 5,000 nodes, and each node change, /metrics
// scrape or /debug/peers read leaves a few MB of garbage that otherwise piled up to 15–35 MB of
// resident set before a full collection came (docs/decisions.md, "5,000 nodes: a change costs
// what it changes"). The price is more full collections of that heap, on a thread that is idle
// between changes; the shards allocate nothing per packet and do not notice. V8 reads the flag at
// every collection, so setting it at run time is enough, and it holds for every isolate.
import { setFlagsFromString } from 'node:v8';

export const HEAP_GROWING_PERCENT = 10;

export function keepOldGenerationClose(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
