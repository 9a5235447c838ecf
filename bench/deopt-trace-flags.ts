// Loaded into a daemon with NODE_OPTIONS=--import (bench/connect-cost.ts --trace-deopt): turns on
// V8's deoptimization trace for the process and the worker threads it starts. Node 20 refuses
// --trace-deopt in NODE_OPTIONS itself. The trace goes to the daemon's stdout, one `[bailout …`
// line per deoptimization, which the lab keeps among the daemon's log lines.
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--trace-deopt');
