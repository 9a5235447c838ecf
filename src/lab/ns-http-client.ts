// HTTP GETs from inside a namespace through one long-lived node process there, for runs that read
// a daemon's endpoints hundreds of times: `VxrouteProcess.get` starts a node per request (a second
// or more each on a loaded machine). Requests go one at a time, a path per line on its stdin; each
// answer comes back as one JSON line ({ status, body }) on its stdout, in order.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

const SCRIPT = `
import { createInterface } from 'node:readline';
for await (const path of createInterface({ input: process.stdin })) {
  let answer;
  try {
    const r = await fetch(process.argv[1] + path, { signal: AbortSignal.timeout(60_000) });
    answer = { status: r.status, body: await r.text() };
  } catch (err) {
    answer = { status: 0, body: String(err) };
  }
  process.stdout.write(JSON.stringify(answer) + '\\n');
}`;

export interface HttpAnswer {
  /** The HTTP status; 0 when the request failed (the body says why). */
  status: number;
  body: string;
}

export class NsHttpClient {
  private readonly waiting: { resolve: (a: HttpAnswer) => void; reject: (e: Error) => void }[] = [];
  private exited = false;

  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => this.waiting.shift()?.resolve(JSON.parse(line) as HttpAnswer));
    child.once('exit', (code, signal) => {
      this.exited = true;
      for (const w of this.waiting.splice(0)) w.reject(new Error(`the namespace's HTTP client exited (${code ?? signal})`));
    });
  }

  /** Starts the client in `ns`; paths are appended to `base` (e.g. http://127.0.0.1:9475). */
  static start(ns: string, base: string): NsHttpClient {
    return new NsHttpClient(spawn('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', SCRIPT, base], { stdio: ['pipe', 'pipe', 'inherit'] }));
  }

  get(path: string): Promise<HttpAnswer> {
    if (this.exited) return Promise.reject(new Error("the namespace's HTTP client has exited"));
    if (path.includes('\n')) return Promise.reject(new Error('a path has no newline'));
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.child.stdin!.write(`${path}\n`);
    });
  }

  /** Ends it at once (a lab's last-resort cleanup). */
  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }

  /** Ends the client and waits for it to exit. */
  async close(): Promise<void> {
    if (this.exited) return;
    const exit = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin!.end();
    await exit;
  }
}
