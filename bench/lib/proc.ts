import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { ROOT, log } from './config.ts';

/**
 * Every process of the harness (server under test, floors, load generators) is a child started
 * through a shell that raises its open-file limit first: 10 000 sockets need more than the usual 1024.
 */
export function spawnNode(args: string[], env: Record<string, string | undefined>, opts: { ipc?: boolean } = {}): ChildProcess {
  const script = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"';
  return spawn('bash', ['-c', script, process.execPath, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', ...(opts.ipc ? (['ipc'] as const) : [])],
  });
}

let nextId = 1;

/** Request/response over a child's IPC channel: replies carry `replyKey: id`. */
export function rpc<T>(child: ChildProcess, message: object, replyKey = 'reply', timeoutMs = 600_000): Promise<T> {
  const id = nextId++;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error(`no answer to ${JSON.stringify(message).slice(0, 120)} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (raw: unknown) => {
      const m = raw as Record<string, unknown>;
      if (!m || m[replyKey] !== id) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      if (typeof m.error === 'string') reject(new Error(m.error));
      else resolve(m as T);
    };
    child.on('message', onMessage);
    child.send({ ...message, id });
  });
}

export interface ServerProc {
  name: string;
  child: ChildProcess;
  url: string;
  wsUrl: string;
  pid: number;
  output(): string;
  /** memory after a full GC (process.memoryUsage) plus RSS from /proc */
  memory(): Promise<{ rss: number; heapUsed: number; external: number; arrayBuffers: number }>;
  profileStart(): Promise<void>;
  profileStop(file: string): Promise<void>;
  /** SIGTERM, and SIGKILL after 15 s */
  stop(): Promise<void>;
  /** SIGKILL at once */
  kill(): Promise<void>;
}

/**
 * Starts a server process (ours: `src/main.ts`; a floor: `bench/floors/*.ts`; a peer:
 * `bench/peers/*.ts`) with the probe preloaded, and waits until it prints its URL.
 */
export async function startServerProc(name: string, entry: string, env: Record<string, string>, readyPattern: RegExp, nodeFlags: string[] = []): Promise<ServerProc> {
  const child = spawnNode([...nodeFlags, '--expose-gc', '--import', 'tsx', '--import', './bench/lib/probe.ts', entry], { PORT: '0', HOST: '127.0.0.1', METRICS_PORT: '0', ...env }, { ipc: true });
  let output = '';
  const append = (d: Buffer) => {
    output += d.toString();
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  let stopping = false;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      if (!stopping) log(`!! ${name} (pid ${child.pid}) exited unexpectedly: ${signal ?? `code ${code}`}`);
      resolve();
    }),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 90 s:\n${output}`)), 90_000);
    const check = () => {
      const match = readyPattern.exec(output);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before it was ready:\n${output}`));
    });
  });
  const pid = child.pid!;
  return {
    name,
    child,
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    pid,
    output: () => output,
    async memory() {
      const { memory } = await rpc<{ memory: NodeJS.MemoryUsage }>(child, { probe: 'memory' }, 'probeReply', 60_000);
      return { rss: rssOf(pid) ?? memory.rss, heapUsed: memory.heapUsed, external: memory.external, arrayBuffers: memory.arrayBuffers };
    },
    async profileStart() {
      await rpc(child, { probe: 'profile-start' }, 'probeReply');
    },
    async profileStop(file) {
      await rpc(child, { probe: 'profile-stop', file }, 'probeReply');
      log(`  profile of ${name} written to ${file.replace(ROOT, '')}`);
    },
    kill() {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      return exited;
    },
    async stop() {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** Resident set size in bytes, from /proc (Linux). */
export function rssOf(pid: number): number | undefined {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** CPU time (user+system, ms) a process has used so far, from /proc (Linux). */
export function cpuMsOf(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / 100;
  } catch {
    return undefined;
  }
}

/** Peak resident set size (VmHWM) in bytes since the process started or since resetPeakRss (Linux). */
export function peakRssOf(pid: number): number | undefined {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Resets the kernel's peak RSS mark (VmHWM) of a process to its current RSS (clear_refs 5, Linux 4.0+); false when refused. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Reads a process's RSS every `everyMs` until stop(), which returns the largest reading (bytes). */
export function sampleRss(pid: number, everyMs = 25): { stop(): number } {
  let peak = rssOf(pid) ?? 0;
  const timer = setInterval(() => (peak = Math.max(peak, rssOf(pid) ?? 0)), everyMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, rssOf(pid) ?? 0);
    },
  };
}

/** Node flags our server runs with: the same as in `npm start` and the Dockerfile. */
export const SERVER_NODE_FLAGS = (process.env.BENCH_SERVER_FLAGS ?? '--max-semi-space-size=32').split(' ').filter(Boolean);

/** Our server: `node --import tsx src/main.ts` on PostgreSQL (and Redis when given). */
export function startOurServer(name: string, env: Record<string, string>): Promise<ServerProc> {
  return startServerProc(name, 'bench/lib/server-main.ts', env, /server ready: GraphQL endpoint at (http:\/\/\S+)/, SERVER_NODE_FLAGS);
}

/** A floor server from bench/floors. */
export function startFloor(name: string, entry: string, env: Record<string, string>): Promise<ServerProc> {
  return startServerProc(name, entry, env, /floor listening at (http:\/\/\S+)/);
}

/** A peer server from bench/peers: the same work on another stack (socket.io), for comparison. */
export function startPeer(name: string, entry: string, env: Record<string, string>): Promise<ServerProc> {
  return startServerProc(name, entry, env, /peer listening at (http:\/\/\S+)/);
}
