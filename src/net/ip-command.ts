// iproute2, the one tool vxroute asks the host for. Arguments go as an array: no shell.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class IpCommandError extends Error {
  readonly code = 'VXR_IP_COMMAND';
  constructor(
    readonly args: string[],
    readonly stderr: string,
    options?: ErrorOptions,
  ) {
    super(`ip ${args.join(' ')}: ${stderr.trim() || 'failed'}`, options);
  }
}

export async function ip(args: string[]): Promise<string> {
  try {
    const { stdout } = await run('ip', args, { encoding: 'utf8' });
    return stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new IpCommandError(args, 'the `ip` command is missing: apt-get install -y iproute2', { cause: err });
    }
    throw new IpCommandError(args, e.stderr ?? e.message, { cause: err });
  }
}

/** `ip -j …` parsed; iproute2 prints nothing at all for some empty results. */
export async function ipJson<T>(args: string[]): Promise<T[]> {
  const out = await ip(['-j', ...args]);
  return out.trim() === '' ? [] : (JSON.parse(out) as T[]);
}

/**
 * Many commands in one `ip -batch -` (one process for thousands of routes); with `-force` among
 * `args` a failing line does not stop the rest. Resolves with what it printed and whether every
 * line succeeded; rejects only when `ip` cannot run.
 */
export function ipBatch(args: string[], lines: readonly string[]): Promise<{ stdout: string; stderr: string; ok: boolean }> {
  return new Promise((resolve, reject) => {
    const child = execFile('ip', [...args, '-batch', '-'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: unknown }) | null;
      if (e && e.code === 'ENOENT') reject(new IpCommandError([...args, '-batch', '-'], 'the `ip` command is missing: apt-get install -y iproute2', { cause: err }));
      else resolve({ stdout, stderr, ok: e === null });
    });
    child.stdin!.end(lines.map((l) => `${l}\n`).join(''));
  });
}

/** The lines (from 1) of an `ip -force -batch -` that failed: iproute2 prints "Command failed -:N" for each. */
export function failedBatchLines(stderr: string): Set<number> {
  return new Set([...stderr.matchAll(/^Command failed -:(\d+)$/gm)].map((m) => Number(m[1])));
}
