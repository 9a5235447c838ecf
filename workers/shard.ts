// Worker entry: one shard per thread, configured entirely by workerData.
import { workerData } from 'node:worker_threads';
import { Shard } from '../src/datapath/shard.js';
import type { ShardConfig } from '../src/datapath/shard-config.js';

new Shard(workerData as ShardConfig).run();
