// The vxroute commands that watch a daemon (top, trace), started inside a node's namespace as
// an operator would run them on the node, for tests that read them while they run (to run one to
// its end, tryInNs with cliPath() does).
import { spawn, type ChildProcess } from 'node:child_process';
import { cliPath } from './vxroute-process.js';

/** Starts `vxroute ARGS` in `ns`; with `tty`, under script(1) so that it sees a real terminal. */
export function spawnCli(ns: string, args: string[], opts: { tty?: boolean } = {}): ChildProcess {
  const command = [process.execPath, cliPath(), ...args];
  const argv = opts.tty
    ? ['netns', 'exec', ns, 'script', '-qfec', command.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' '), '/dev/null']
    : ['netns', 'exec', ns, ...command];
  return spawn('ip', argv, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, TERM: 'xterm', COLUMNS: '80', LINES: '24' } });
}
