/**
 * Load process for HTTP: autocannon against one URL, rotating over a list of prepared requests
 * (each its own body and Authorization). Takes its job over IPC, answers with autocannon's result.
 */
import autocannon from 'autocannon';

interface Job {
  id: number;
  url: string;
  connections: number;
  seconds: number;
  requests: { body: string; authorization: string }[];
}

process.on('message', (job: Job) => {
  let i = 0;
  const instance = autocannon(
    {
      url: job.url,
      connections: job.connections,
      duration: job.seconds,
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      requests: [
        {
          setupRequest: (req: Record<string, unknown>) => {
            const r = job.requests[i++ % job.requests.length]!;
            return { ...req, body: r.body, headers: { 'content-type': 'application/json', accept: 'application/json', authorization: r.authorization } };
          },
        },
      ],
    },
    (error: unknown, result: any) => {
      if (error) return process.send!({ reply: job.id, error: String(error) });
      process.send!({
        reply: job.id,
        requestsPerSecond: result.requests.average,
        total: result.requests.total,
        latency: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max, mean: result.latency.average },
        non2xx: result.non2xx,
        errors: result.errors,
        timeouts: result.timeouts,
        duration: result.duration,
      });
    },
  );
  void instance;
});
process.send!({ ready: true });
