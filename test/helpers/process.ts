import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  /** the Prometheus listener it printed (METRICS_PORT=0: a free port on 127.0.0.1), unless METRICS_PORT=off */
  metricsUrl?: string;
  output(): string;
  /** what it wrote to stderr alone (the logs go to stdout) */
  errors(): string;
  /** SIGTERM and wait for exit */
  stop(): Promise<void>;
  /** SIGKILL: dies without closing sockets or leaving the cluster */
  kill(): Promise<void>;
}

/** Starts `src/main.ts` (what `npm start` runs) as its own process and waits for its ready line. */
export async function startServerProcess(env: Record<string, string>, timeoutMs = 60_000): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    // port 0 for metrics too: several servers run at once, in this file and in others. Webhook
    // receivers in tests listen on 127.0.0.1, and on a shared PostgreSQL any server's worker may
    // attempt any test's delivery: they all allow private networks, as startTestServer's do.
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', METRICS_PORT: '0', WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let errors = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => ((output += d), (errors += d)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const check = () => {
      const match = /server ready: GraphQL endpoint at (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${output}`));
    });
  });
  return {
    child,
    url,
    metricsUrl: /Prometheus metrics at (http:\/\/\S+)/.exec(output)?.[1],
    output: () => output,
    errors: () => errors,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
    async kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
