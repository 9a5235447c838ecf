// One run of a host tool (nft, iptables, iptables-restore) with a script on stdin: arguments as
// an array, no shell. Rejects with the tool's stderr, or with how to install it when it is missing.
import { execFile } from 'node:child_process';

export class HostToolError extends Error {
  readonly code = 'VXR_HOST_TOOL';
}

/** `install` says how to get the tool and what vxroute needs it for, for the message when it is missing. */
export function runHostTool(tool: string, args: readonly string[], input: string, install: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(tool, args, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      reject(new HostToolError(missing ? `${tool} is not installed: ${install}` : `${tool} ${args.join(' ')}: ${stderr.trim() || err.message}`, { cause: err }));
    });
    child.stdin!.on('error', () => undefined); // a command that reads no input may exit first: its status decides
    child.stdin!.end(input);
  });
}
