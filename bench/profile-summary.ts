/**
 * Summarises V8 CPU profiles (.cpuprofile, as written by --cpu-prof or by the harness's probe
 * with BENCH_PROFILE=1): self time grouped by area (GraphQL execution, yoga pipeline, pg/kysely,
 * JSON, sockets, our code, GC…) and the top functions by self time.
 *
 *   npx tsx bench/profile-summary.ts bench/profiles/*.cpuprofile [--top 15]
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

const AREAS: [string, (f: CallFrame) => boolean][] = [
  ['idle', (f) => f.functionName === '(idle)'],
  ['GC', (f) => f.functionName === '(garbage collector)'],
  ['GraphQL execution (graphql-js, @graphql-tools/executor)', (f) => /node_modules\/(graphql|@graphql-tools\/executor)\//.test(f.url)],
  ['yoga/envelop/whatwg-node (HTTP pipeline, Request/Response)', (f) => /node_modules\/(graphql-yoga|@graphql-yoga|@envelop|@whatwg-node|@graphql-tools|@repeaterjs|urlpattern-polyfill|fetchache)/.test(f.url)],
  ['pothos (schema wrappers)', (f) => /node_modules\/@pothos\//.test(f.url)],
  ['graphql-ws (socket protocol)', (f) => /node_modules\/graphql-ws\//.test(f.url)],
  ['ws (WebSocket frames)', (f) => /node_modules\/ws\//.test(f.url)],
  ['kysely (query building)', (f) => /node_modules\/kysely\//.test(f.url)],
  ['pg driver (protocol, parsing rows)', (f) => /node_modules\/(pg|pg-protocol|pg-pool|pg-types|postgres-[a-z]+|pgpass|buffer-writer|packet-reader)\//.test(f.url)],
  ['dataloader', (f) => /node_modules\/dataloader\//.test(f.url)],
  ['jose + webcrypto (JWT verify)', (f) => /node_modules\/jose\//.test(f.url) || /^node:internal\/(crypto|worker\/js_transferable|per_context\/domexception)/.test(f.url)],
  ['ioredis', (f) => /node_modules\/(ioredis|@ioredis|redis-[a-z]+|denque|cluster-key-slot)\//.test(f.url)],
  ['zod', (f) => /node_modules\/zod\//.test(f.url)],
  ['other node_modules', (f) => /node_modules\//.test(f.url)],
  ['our code (src/)', (f) => /\/src\//.test(f.url)],
  ['bench code (floor, probe)', (f) => /\/bench\//.test(f.url)],
  ['JSON.stringify/parse (native)', (f) => f.url === '' && /^(stringify|parse|JSONSerialize|JsonStringify)$/.test(f.functionName)],
  ['node http/net/streams (incl. socket writes)', (f) => /^node:(internal\/)?(http|_http|net|stream|internal\/streams|internal\/http|internal\/net|internal\/stream_base|internal\/js_stream|dns|tls)/.test(f.url) || /node:(_http_|internal\/streams|internal\/stream_base)/.test(f.url)],
  ['node internals (timers, events, crypto…)', (f) => f.url.startsWith('node:')],
  ['V8 / native (program, microtasks, builtins)', () => true],
];

function areaOf(frame: CallFrame): string {
  for (const [name, test] of AREAS) if (test(frame)) return name;
  return 'other';
}

export interface ProfileSummary {
  file: string;
  busyMs: number;
  wallMs: number;
  areas: { area: string; ms: number; share: number }[];
  top: { fn: string; where: string; area: string; ms: number; share: number }[];
}

export function summarise(file: string, topN = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  if (profile.samples && profile.timeDeltas) {
    // the time until the next sample is charged to the sampled node
    for (let i = 0; i < profile.samples.length; i++) {
      const delta = profile.timeDeltas[i + 1] ?? 0;
      self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + delta / 1000);
    }
  } else {
    const total = profile.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0) || 1;
    const wall = (profile.endTime - profile.startTime) / 1000;
    for (const n of profile.nodes) self.set(n.id, ((n.hitCount ?? 0) / total) * wall);
  }
  // a native frame (writev, run, …) is charged to the area of the JavaScript that called it
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const NATIVE = 'V8 / native (program, microtasks, builtins)';
  const areaOfNode = (id: number): string => {
    const frame = byId.get(id)!.callFrame;
    const own = areaOf(frame);
    if (own !== NATIVE || frame.url !== '' || frame.functionName.startsWith('(')) return own;
    for (let p = parent.get(id); p !== undefined; p = parent.get(p)) {
      const up = byId.get(p)!.callFrame;
      if (up.url === '' && !up.functionName.startsWith('(')) continue;
      const area = areaOf(up);
      return area === NATIVE || area === 'idle' ? own : area;
    }
    return own;
  };
  const areas = new Map<string, number>();
  const fns = new Map<string, { fn: string; where: string; area: string; ms: number }>();
  let busy = 0;
  for (const [id, ms] of self) {
    const frame = byId.get(id)!.callFrame;
    const area = areaOfNode(id);
    areas.set(area, (areas.get(area) ?? 0) + ms);
    if (area === 'idle') continue;
    busy += ms;
    const where = frame.url ? `${frame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(src|bench)\//, '$1/')}:${frame.lineNumber + 1}` : '(native)';
    const key = `${frame.functionName}@${where}`;
    const entry = fns.get(key) ?? { fn: frame.functionName || '(anonymous)', where, area, ms: 0 };
    entry.ms += ms;
    fns.set(key, entry);
  }
  const share = (ms: number) => Math.round((ms / busy) * 1000) / 10;
  return {
    file,
    busyMs: Math.round(busy),
    wallMs: Math.round((profile.endTime - profile.startTime) / 1000),
    areas: [...areas]
      .filter(([area]) => area !== 'idle')
      .map(([area, ms]) => ({ area, ms: Math.round(ms), share: share(ms) }))
      .sort((a, b) => b.ms - a.ms),
    top: [...fns.values()]
      .sort((a, b) => b.ms - a.ms)
      .slice(0, topN)
      .map((f) => ({ ...f, ms: Math.round(f.ms), share: share(f.ms) })),
  };
}

export function toMarkdown(s: ProfileSummary): string {
  const lines = [`#### ${basename(s.file, '.cpuprofile')}: ${s.busyMs} ms busy of ${s.wallMs} ms profiled`, '', '| area | self ms | share of busy |', '|---|---:|---:|'];
  for (const a of s.areas) if (a.share >= 0.5) lines.push(`| ${a.area} | ${a.ms} | ${a.share}% |`);
  lines.push('', '| top functions (self) | where | charged to | share |', '|---|---|---|---:|');
  for (const f of s.top) lines.push(`| \`${f.fn}\` | ${f.where} | ${f.area} | ${f.share}% |`);
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const topAt = args.indexOf('--top');
  const top = topAt >= 0 ? Number(args[topAt + 1]) : 15;
  const files = args.filter((a, i) => a.endsWith('.cpuprofile') && i !== topAt + 1);
  if (!files.length) {
    console.error('usage: tsx bench/profile-summary.ts <file.cpuprofile>... [--top N]');
    process.exit(2);
  }
  for (const file of files) console.log(`${toMarkdown(summarise(file, top))}\n`);
}
