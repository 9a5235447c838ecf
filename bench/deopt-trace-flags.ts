// Loaded into a daemon with NODE_OPTIONS=--import (bench/connect-cost.ts --trace-deopt): turns on
// V8's deoptimization trace for the process and the worker threads it starts, and its optimization
// trace once the daemon gets SIGUSR2 (the bench sends it when the daemons are up: the start's
// thousands of compiles would flood the log the lab scans for its lines). Node 20 refuses both
// flags in NODE_OPTIONS itself. The traces go to the daemon's stdout, one `[bailout …` line per
// deoptimization and one `[completed compiling …` per TurboFan compile (among others), which the
// lab keeps among the daemon's log lines.
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--trace-deopt');
process.on('SIGUSR2', () => setFlagsFromString('--trace-opt'));
