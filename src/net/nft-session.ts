// One long-lived `nft -j -i` for the reads vxroute makes while it runs (the guard's counter at
// each /metrics scrape). A fork write-protects all of the daemon's private memory, and every page
// it writes afterwards takes a copy-on-write fault (~20 µs each on a paravirtualized guest), so
// a `nft` run per scrape made new connections pay for scrapes; this child is forked once, early,
// while the daemon is small. Over a pipe nft answers each command with one line of JSON on
// stdout, or with an `Error:` block on stderr; commands go one at a time, so the first answer
// after a command is its own (for commands whose error is one `Error:` line, as a `list` of what
// is not there: a syntax error can print two). A dead child is started again by the next command.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { NFT_INSTALL } from './nft.js';

export class NftSessionError extends Error {
  readonly code = 'VXR_NFT_SESSION';
}

interface Pending {
  command: string;
  resolve(line: string): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export class NftSession {
  private child: ChildProcessWithoutNullStreams | undefined;
  private pending: Pending | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  /** `argv` runs nft (a test may put `ip netns exec NS` in front); `purpose` goes into the message when nft is missing. */
  constructor(
    private readonly purpose: string,
    private readonly argv: readonly string[] = ['nft', '-j', '-i'],
    private readonly timeoutMs = 5000,
  ) {}

  /** The child's pid, while one runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the child unless one runs. */
  start(): void {
    if (this.child) return;
    const child = spawn(this.argv[0]!, this.argv.slice(1), { stdio: 'pipe' });
    this.child = child;
    // The session never keeps the daemon alive; a command in flight holds stdout's ref.
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as Socket).unref();
    child.stdin.on('error', () => undefined); // a dead child: 'exit' or 'error' settles the command
    createInterface({ input: child.stdout }).on('line', (line) => this.settle(child, line));
    createInterface({ input: child.stderr }).on('line', (line) => {
      // nft's error is one `Error:` line and then the command with a caret line under it.
      if (line.startsWith('Error:')) this.settle(child, undefined, new NftSessionError(`nft ${this.pending?.command}: ${line}`));
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      const missing = err.code === 'ENOENT';
      this.lost(child, new NftSessionError(missing ? `nft is not installed: ${NFT_INSTALL} (${this.purpose})` : `nft: ${err.message}`, { cause: err }));
    });
    child.on('exit', (code, signal) => this.lost(child, new NftSessionError(`nft exited (${signal ?? `status ${code}`}) before it answered`)));
  }

  /** One command's answer, a line of JSON; rejects with nft's error, a missing nft, the child's death or a timeout. */
  command(command: string): Promise<string> {
    const answer = this.queue.then(() => this.send(command));
    this.queue = answer.catch(() => undefined);
    return answer;
  }

  /** Ends the child (its stdin closes, so it exits even if the signal is missed). */
  close(): void {
    const child = this.child;
    if (!child) return;
    this.lost(child, new NftSessionError('nft session closed'));
    child.stdin.end();
    child.kill();
  }

  private send(command: string): Promise<string> {
    this.start();
    const child = this.child!;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.lost(child, new NftSessionError(`nft ${command}: no answer in ${this.timeoutMs} ms`));
        child.kill();
      }, this.timeoutMs);
      this.pending = { command, resolve, reject, timer };
      (child.stdout as unknown as Socket).ref();
      child.stdin.write(`${command}\n`);
    });
  }

  private settle(child: ChildProcessWithoutNullStreams, line: string | undefined, err?: Error): void {
    const p = this.pending;
    if (!p || child !== this.child) return; // a stray line: no command waits for it
    this.pending = undefined;
    clearTimeout(p.timer);
    (child.stdout as unknown as Socket).unref();
    if (err) p.reject(err);
    else p.resolve(line!);
  }

  /** The child is gone or given up: the waiting command fails, and the next one starts a new child. */
  private lost(child: ChildProcessWithoutNullStreams, err: Error): void {
    if (child !== this.child) return;
    this.settle(child, undefined, err);
    this.child = undefined;
  }
}
