// Switch mode under churn, the timings and rates the switch test leaves out because a loaded
// machine moves them: how soon traffic to a pod moved to another node resumes after its first
// frame from there, and how much of a flood of random source MACs the FDB learns while a
// legitimate ping runs beside it. Two vxroute nodes and a kernel node on one Ethernet segment.
//   npm run bench:switch-churn -- [--moves 6] [--flood 100000]
import { replugPort } from '../src/lab/bridge-port.js';
import { floodRandomSources, macOf } from '../src/lab/frame-flood.js';
import { Lab } from '../src/lab/lab.js';
import { tryInNs } from '../src/lab/netns.js';
import { broadcast, ping } from '../src/lab/traffic.js';
import type { FdbView } from '../src/cli/fdb.js';
import { benchFlags, whole } from './bench-options.js';

const { moves, flood: floodFrames } = benchFlags({
  module: import.meta.url,
  flags: {
    moves: whole('times a pod moves between the two vxroute nodes', { min: 1, max: 1000, default: 6 }),
    flood: whole('frames of random source MACs in the flood', { min: 1, max: 10_000_000, default: 100_000 }),
  },
});
const PING_INTERVAL_S = 0.01;

const lab = await Lab.create({ underlay: [4], pods: [4], segment: true });
try {
  const n1 = await lab.addNode('vxroute', 2);
  const n2 = await lab.addNode('vxroute', 2);
  const n3 = await lab.addNode('kernel', 2);
  await lab.programKernelPeers();
  const subnets = await lab.writeSubnets();
  const d1 = await lab.startVxroute(n1, subnets, ['--mode', 'switch', '--workers', '2']);
  await lab.startVxroute(n2, subnets, ['--mode', 'switch', '--workers', '2']);
  const fdbOf = async (): Promise<FdbView> => JSON.parse((await d1.get('/debug/fdb')).body) as FdbView;

  // 1. A pod moves between n1 and n2 and back; a pod on the kernel node pings it meanwhile.
  const moved = n1.pods[1];
  const watcher = n3.pods[0];
  const resumeMs: number[] = [];
  let at = n1;
  for (let i = 0; i < moves; i++) {
    for (const p of [watcher, n2.pods[0]]) await ping(p.ns, moved.ip, 1);
    const to = at === n1 ? n2 : n1;
    await replugPort(at.ns, i === 0 ? 'vp1' : 'vpm', to.ns, 'vpm');
    at = to;
    const pinging = tryInNs(watcher.ns, 'ping', ['-n', '-D', '-i', String(PING_INTERVAL_S), '-w', '5', moved.ip]);
    await new Promise((r) => setTimeout(r, 500)); // the watcher's echoes go unanswered for a while
    const firstFrame = Date.now() / 1000;
    await broadcast(moved.ns, [], '10.244.255.255', 1); // its first frame from the new place
    const replies = [...(await pinging).stdout.matchAll(/^\[(\d+\.\d+)\].*bytes from/gm)].map((m) => Number(m[1]));
    const resumed = replies.find((t) => t >= firstFrame);
    if (resumed !== undefined) resumeMs.push((resumed - firstFrame) * 1000);
  }
  resumeMs.sort((a, b) => a - b);

  // 2. A flood of random source MACs from a pod on n1, a ping to the kernel node beside it.
  const learnedBefore = (await fdbOf()).learned;
  const legit = ping(n1.pods[0].ns, n3.pods[1].ip, 30, 0.1);
  const sent = await floodRandomSources(n1.pods[0].ns, 'eth0', floodFrames, await macOf(n2.pods[0].ns, 'eth0'), 0.005);
  const answered = (await legit).received;
  const view = await fdbOf();

  console.log(`| measure | value |`);
  console.log('|---|---|');
  console.log(`| traffic to a moved pod resumes after its first frame (${resumeMs.length} of ${moves} moves, echoes ${PING_INTERVAL_S * 1000} ms apart) | p50 ${resumeMs[Math.floor(resumeMs.length / 2)]?.toFixed(0)} ms, max ${resumeMs.at(-1)?.toFixed(0)} ms |`);
  console.log(`| flooded source MACs learned | ${(view.learned - learnedBefore).toLocaleString('en')} of ${sent.toLocaleString('en')} (${((100 * (view.learned - learnedBefore)) / sent).toFixed(1)} %) |`);
  console.log(`| FDB entries after the flood | ${view.size} (cap ${view.max}) |`);
  console.log(`| echoes answered during the flood | ${answered} of 30 |`);
} finally {
  await lab.dispose();
}
