// Network namespaces for the test bed and the demo. Every name carries the creating process's
// pid, so a later run can sweep what a killed run left behind without touching anyone else's.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';

const execFileAsync = promisify(execFile);
const PREFIX = 'vxr-';
const OWNED = /^vxr-(\d+)-/;

export class CommandError extends Error {
  constructor(readonly command: string[], readonly stderr: string, options?: ErrorOptions) {
    super(`${command.join(' ')} failed: ${stderr.trim() || (options?.cause as Error | undefined)?.message || 'unknown error'}`, options);
    this.name = 'CommandError';
  }
}

/** Runs a command in the root namespace (only ever `ip netns …`, `ip link … netns …`). */
export async function host(cmd: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(cmd, args, { maxBuffer: 64 << 20 });
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string; code?: string };
    if (e.code === 'ENOENT') {
      throw new CommandError([cmd, ...args], `${cmd} is not installed (apt-get install -y iproute2 iputils-ping tcpdump tshark)`, { cause: err });
    }
    throw new CommandError([cmd, ...args], e.stderr ?? '', { cause: err });
  }
}

/** Runs a command inside namespace `ns`. */
export function inNs(ns: string, cmd: string, args: string[]): Promise<string> {
  return host('ip', ['netns', 'exec', ns, cmd, ...args]);
}

export interface Completed {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command inside namespace `ns` and reports how it ended instead of throwing. */
export function tryInNs(ns: string, cmd: string, args: string[], timeoutMs = 60_000): Promise<Completed> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', ns, cmd, ...args], { maxBuffer: 64 << 20, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A fresh run id: `vxr-<pid>-<hex>`. */
export function labId(): string {
  return `${PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`;
}

export async function createNamespace(name: string): Promise<void> {
  await host('ip', ['netns', 'add', name]);
  await inNs(name, 'ip', ['link', 'set', 'lo', 'up']);
}

export function deleteNamespacesSync(names: Iterable<string>): void {
  for (const name of names) {
    try {
      execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
}

/** Deletes namespaces that an earlier run (a process no longer alive) left behind. */
export async function sweepStaleNamespaces(): Promise<string[]> {
  const out = await host('ip', ['netns', 'list']);
  const stale = out
    .split('\n')
    .map((line) => line.split(' ')[0])
    .filter((name) => {
      const m = OWNED.exec(name);
      return m !== null && !isAlive(Number(m[1]));
    });
  deleteNamespacesSync(stale);
  return stale;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
