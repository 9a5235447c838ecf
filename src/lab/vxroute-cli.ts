// The vxroute commands that watch a daemon (top, trace), run inside a node's namespace as an
// operator would run them on the node.
import { spawn, type ChildProcess } from 'node:child_process';
import { cliPath } from './vxroute-process.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts `vxroute ARGS` in `ns`; with `tty`, under script(1) so that it sees a real terminal. */
export function spawnCli(ns: string, args: string[], opts: { tty?: boolean } = {}): ChildProcess {
  const command = [process.execPath, cliPath(), ...args];
  const argv = opts.tty
    ? ['netns', 'exec', ns, 'script', '-qfec', command.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' '), '/dev/null']
    : ['netns', 'exec', ns, ...command];
  return spawn('ip', argv, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, TERM: 'xterm', COLUMNS: '80', LINES: '24' } });
}

/** Runs `vxroute ARGS` in `ns` to its end. */
export function runCli(ns: string, args: string[]): Promise<CliResult> {
  const child = spawnCli(ns, args);
  child.stdin!.end();
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}
