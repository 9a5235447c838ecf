// A probe agent (probe-agent.ts) started in a pod's (or a node's) namespace, seen from the test:
// probe() and get() send one command and resolve with the answer, many at once; the agent lives
// until kill().
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ProbeAnswer, ProbeCommand } from './probe-agent.js';
import { cliPath } from './vxroute-process.js';

const READY_TIMEOUT_MS = 30_000; // a bound for a loaded machine

/** The built agent, beside the built CLI. */
function agentPath(): string {
  const path = join(dirname(cliPath()), '..', 'lab', 'probe-agent.js');
  if (!existsSync(path)) throw new Error(`${path} is missing: run npm run build`);
  return path;
}

export class ProbeAgentProcess {
  private nextId = 1;
  private readonly pending = new Map<number, (a: ProbeAnswer) => void>();

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {}

  /** Starts the agent named `name` serving `ports` (TCP and UDP; none for a node) in `ns`, and waits until it serves them. */
  static async start(ns: string, name: string, ports: number[] = []): Promise<ProbeAgentProcess> {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, agentPath(), name, ...ports.map(String)]);
    const agent = new ProbeAgentProcess(child);
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const lines = createInterface({ input: child.stdout });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`probe agent ${name} in ${ns} not ready after ${READY_TIMEOUT_MS} ms: ${stderr}`)), READY_TIMEOUT_MS);
      child.once('exit', (code) => {
        reject(new Error(`probe agent ${name} in ${ns} exited (${code}): ${stderr}`));
        for (const answer of agent.pending.values()) answer({ id: 0, error: `agent exited (${code})` });
        agent.pending.clear();
      });
      lines.on('line', (line) => {
        const message = JSON.parse(line) as ProbeAnswer & { ready?: boolean };
        if (message.ready) {
          clearTimeout(timer);
          resolve();
          return;
        }
        agent.pending.get(message.id)?.(message);
        agent.pending.delete(message.id);
      });
    });
    return agent;
  }

  /** One connection (TCP) or request (UDP) to host:port: the name that answered, or undefined. */
  async probe(protocol: 'TCP' | 'UDP', host: string, port: number, timeoutMs: number): Promise<string | undefined> {
    return (await this.send({ id: this.nextId++, protocol, host, port, timeoutMs })).answer;
  }

  /** GET http://`address``path` from the agent's namespace: the body; throws on an error or a status other than 2xx. */
  async get(address: string, path: string, timeoutMs: number): Promise<string> {
    const [host, port] = address.split(':');
    const a = await this.send({ id: this.nextId++, protocol: 'HTTP', host, port: Number(port), path, timeoutMs });
    if (a.answer === undefined) throw new Error(`GET http://${address}${path}: ${a.error}`);
    return a.answer;
  }

  private send(command: ProbeCommand): Promise<ProbeAnswer> {
    return new Promise((resolve) => {
      this.pending.set(command.id, resolve);
      this.child.stdin.write(`${JSON.stringify(command)}\n`);
    });
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}
