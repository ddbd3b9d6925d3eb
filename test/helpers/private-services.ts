/**
 * Private PostgreSQL and Redis servers for fault tests: each test file starts its own on a free
 * port in a temporary directory, so that it can stop, kill and restart them without touching the
 * machine's shared services (other test files use those at the same time).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const PG_BIN = '/usr/lib/postgresql/15/bin';
export const hasPostgresBinaries = () => existsSync(join(PG_BIN, 'initdb')) && existsSync(join(PG_BIN, 'pg_ctl'));
export const hasRedisServer = () => {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

export interface PrivatePostgres {
  url: string;
  port: number;
  dir: string;
  /** pg_ctl stop; `immediate` is a crash (recovery from WAL on the next start) */
  stop(mode?: 'fast' | 'immediate' | 'smart'): Promise<void>;
  start(): Promise<void>;
  /** stops the server (immediate) and removes its directory; safe to call twice */
  destroy(): Promise<void>;
  log(): string;
}

/**
 * initdb + pg_ctl start in a temporary directory, listening on 127.0.0.1:<free port> with trust
 * auth for user `postgres`. PostgreSQL refuses to run as root: as root, the binaries run as the
 * `postgres` OS user (via runuser) and the directory belongs to it.
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'phs-pg-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
  }
  const pgRun = (bin: string, args: string[], timeout = 120_000) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(PG_BIN, bin), ...args], { timeout }) : run(join(PG_BIN, bin), args, { timeout });
  const port = await freePort();
  const logFile = join(dir, 'log');
  // small footprint: the machine is shared with the rest of the suite
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c shared_buffers=16MB -c max_connections=40`;
  let destroyed = false;

  await pgRun('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  const start = async () => {
    await pgRun('pg_ctl', ['-D', data, '-o', options, '-l', logFile, '-w', '-t', '120', 'start']);
  };
  const stop = async (mode: 'fast' | 'immediate' | 'smart' = 'fast') => {
    await pgRun('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']);
  };
  // a crashed or interrupted test run must not leave a postmaster behind
  const onExit = () => {
    if (destroyed) return;
    try {
      const args = ['-D', data, '-m', 'immediate', 'stop'];
      if (asRoot) execFileSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, 'pg_ctl'), ...args], { stdio: 'ignore' });
      else execFileSync(join(PG_BIN, 'pg_ctl'), args, { stdio: 'ignore' });
    } catch {}
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dir,
    stop,
    start,
    async destroy() {
      if (destroyed) return;
      await stop('immediate').catch(() => {});
      destroyed = true;
      process.off('exit', onExit);
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => {
      try {
        return readFileSync(logFile, 'utf8');
      } catch {
        return '';
      }
    },
  };
}

export interface PrivateRedis {
  url: string;
  port: number;
  /** SIGKILL: the server vanishes, with every subscription and queued message */
  kill(): Promise<void>;
  /** starts it again on the same port */
  start(): Promise<void>;
  /** kills it for good; safe to call twice */
  destroy(): Promise<void>;
}

/** A redis-server child process on 127.0.0.1:<free port>, without persistence. */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const onExit = () => child?.kill('SIGKILL');
  process.once('exit', onExit);

  const start = async () => {
    const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    let output = '';
    proc.stdout!.on('data', (d) => (output += d));
    proc.stderr!.on('data', (d) => (output += d));
    exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const deadline = Date.now() + 30_000;
    while (!(await portOpen(port))) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}:\n${output}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${port}:\n${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const kill = async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    start,
    async destroy() {
      await kill();
      process.off('exit', onExit);
    },
  };
}
