// The process that stands for one pod of a NetworkPolicy test, started once inside the pod's
// namespace: it serves TCP and UDP on the given ports, answering every connection and datagram
// with its name, and makes probes when told to, so that a matrix of probes costs no process per
// probe. In a node's namespace (no ports) it reads the daemon's loopback HTTP endpoint the same
// way, for less than a process per read. Commands come as JSON lines on stdin, answers go as JSON
// lines on stdout; it exits when stdin closes (with the test that started it).
//   node probe-agent.js NAME [PORT...]   prints {"ready":true} once every port is served
//   {"id":1,"protocol":"TCP","host":"10.244.1.2","port":80,"timeoutMs":1000}
//   → {"id":1,"answer":"x/a"}  or  {"id":1,"error":"timeout"}
//   {"id":2,"protocol":"HTTP","host":"127.0.0.1","port":9475,"path":"/debug/counters","timeoutMs":5000}
//   → {"id":2,"answer":"<the body>"}
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';
import { createInterface } from 'node:readline';

export interface ProbeCommand {
  id: number;
  protocol: 'TCP' | 'UDP' | 'HTTP';
  host: string;
  port: number;
  /** HTTP only: the path to GET. */
  path?: string;
  timeoutMs: number;
}

export interface ProbeAnswer {
  id: number;
  /** What the server said: its name. */
  answer?: string;
  /** Why there was no answer: "timeout" or the socket's error code. */
  error?: string;
}

/** UDP has no handshake: a probe sends its datagram this many times within its timeout. */
const UDP_SENDS = 3;

async function serve(name: string, port: number): Promise<void> {
  const tcp = createServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.end(name);
  });
  const udp = createSocket('udp4');
  udp.on('message', (_msg, from) => udp.send(name, from.port, from.address));
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen({ port, host: '0.0.0.0' }, resolve);
  });
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(port, '0.0.0.0', resolve);
  });
}

function probeTcp(c: ProbeCommand): Promise<ProbeAnswer> {
  return new Promise((resolve) => {
    let answer = '';
    const socket = connect({ host: c.host, port: c.port });
    const timer = setTimeout(() => finish({ id: c.id, error: 'timeout' }), c.timeoutMs);
    function finish(a: ProbeAnswer): void {
      clearTimeout(timer);
      socket.destroy();
      resolve(a);
    }
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (answer += d));
    socket.on('end', () => finish({ id: c.id, answer }));
    socket.on('error', (err: NodeJS.ErrnoException) => finish({ id: c.id, error: err.code ?? err.message }));
  });
}

function probeUdp(c: ProbeCommand): Promise<ProbeAnswer> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    const send = (): void => socket.send('probe', c.port, c.host);
    const resend = setInterval(send, Math.ceil(c.timeoutMs / UDP_SENDS));
    const timer = setTimeout(() => finish({ id: c.id, error: 'timeout' }), c.timeoutMs);
    function finish(a: ProbeAnswer): void {
      clearTimeout(timer);
      clearInterval(resend);
      socket.close();
      resolve(a);
    }
    socket.on('message', (msg) => finish({ id: c.id, answer: msg.toString() }));
    socket.on('error', (err: NodeJS.ErrnoException) => finish({ id: c.id, error: err.code ?? err.message }));
    send();
  });
}

async function get(c: ProbeCommand): Promise<ProbeAnswer> {
  try {
    const r = await fetch(`http://${c.host}:${c.port}${c.path ?? '/'}`, { signal: AbortSignal.timeout(c.timeoutMs) });
    const body = await r.text();
    return r.ok ? { id: c.id, answer: body } : { id: c.id, error: `HTTP ${r.status}: ${body}` };
  } catch (err) {
    return { id: c.id, error: (err as Error).message };
  }
}

const PROBES = { TCP: probeTcp, UDP: probeUdp, HTTP: get };

async function main(): Promise<void> {
  const [name, ...ports] = process.argv.slice(2);
  if (!name) throw new Error('usage: probe-agent NAME [PORT...]');
  for (const port of ports) await serve(name, Number(port));
  const say = (line: object): boolean => process.stdout.write(`${JSON.stringify(line)}\n`);
  say({ ready: true });
  const input = createInterface({ input: process.stdin });
  input.on('line', (line) => {
    const c = JSON.parse(line) as ProbeCommand;
    void PROBES[c.protocol](c).then(say);
  });
  input.on('close', () => process.exit(0));
}

await main();
