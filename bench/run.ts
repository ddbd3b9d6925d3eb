/**
 * `npm run bench [-- scenario...]`: seeds, then runs each scenario for our server and its floor
 * (one after the other, in the same run), prints a table and writes bench/results/latest.json.
 * Scenarios: read, write, fanout, sync, idle, cluster, reconnect, storm (10 000 devices drop and
 * reconnect at once with the SDK's backoff, against the floor's time to connect them).
 *
 * Env: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/phs_bench, created when missing),
 * REDIS_URL (default redis://127.0.0.1:6379, cluster scenario), BENCH_QUICK=1 (one short round
 * each, written to bench/results/quick.json), BENCH_PROFILE=1 (one round with the CPU profiler
 * on in the servers; profiles in bench/profiles/), BENCH_OUTPUT (where to write the JSON).
 */
import { execSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import pg from 'pg';
import { DATABASE_URL, PROFILE, QUICK, REDIS_URL, RESULTS_DIR, ROUNDS, log } from './lib/config.ts';
import type { ScenarioResult } from './lib/harness.ts';
import type { Spread } from './lib/stats.ts';
import { seed } from './seed.ts';
import { readScenario } from './scenarios/read.ts';
import { writeScenario } from './scenarios/write.ts';
import { fanoutScenario } from './scenarios/fanout.ts';
import { syncScenario } from './scenarios/sync.ts';
import { idleScenario } from './scenarios/idle.ts';
import { clusterScenario } from './scenarios/cluster.ts';
import { reconnectScenario } from './scenarios/reconnect.ts';
import { stormScenario } from './scenarios/storm.ts';

const SCENARIOS: Record<string, () => Promise<ScenarioResult>> = {
  read: readScenario,
  write: writeScenario,
  fanout: fanoutScenario,
  sync: syncScenario,
  idle: idleScenario,
  cluster: clusterScenario,
  reconnect: reconnectScenario,
  storm: stormScenario,
};

const args = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = args.filter((a) => !(a in SCENARIOS));
if (unknown.length) {
  console.error(`unknown scenario(s): ${unknown.join(', ')}; known: ${Object.keys(SCENARIOS).join(', ')}`);
  process.exit(2);
}
const selected = args.length ? args : Object.keys(SCENARIOS);

async function machine() {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  const { rows } = await client.query('show server_version');
  await client.end();
  let redis: string | undefined;
  try {
    redis = /redis_version:(\S+)/.exec(execSync(`redis-cli -u ${REDIS_URL} info server`, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))?.[1];
  } catch {
    redis = undefined;
  }
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model,
    node: process.version,
    postgres: rows[0].server_version as string,
    redis,
    loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

const started = Date.now();
log(`bench: ${selected.join(', ')}${QUICK ? ' (quick: one short round)' : ''}${PROFILE ? ' (CPU profiles)' : ''} on ${DATABASE_URL.replace(/\/\/[^@]*@/, '//')}`);
await seed();
const info = await machine();
log(`machine: ${info.cores} cores (${info.cpu}), Node ${info.node}, PostgreSQL ${info.postgres}, Redis ${info.redis ?? 'n/a'}, load average ${info.loadAverageAtStart.join(' ')}`);

const results: Record<string, ScenarioResult> = {};
let failed = false;
for (const name of selected) {
  log(`\n== ${name}`);
  try {
    results[name] = await SCENARIOS[name]!();
  } catch (error) {
    failed = true;
    log(`scenario ${name} failed: ${error instanceof Error ? error.stack : error}`);
  }
}

const output = {
  startedAt: new Date(started).toISOString(),
  seconds: Math.round((Date.now() - started) / 1000),
  quick: QUICK,
  profile: PROFILE,
  rounds: ROUNDS,
  machine: { ...info, loadAverageAtEnd: loadavg().map((l) => Math.round(l * 100) / 100) },
  scenarios: results,
};
const file = process.env.BENCH_OUTPUT || `${RESULTS_DIR}/${QUICK ? 'quick' : PROFILE ? 'profile-run' : 'latest'}.json`;
mkdirSync(file.replace(/\/[^/]*$/, ''), { recursive: true });
writeFileSync(file, `${JSON.stringify(output, null, 2)}\n`);

// the table
const fmt = (n: number | undefined) => (n === undefined ? '' : n >= 100 ? n.toFixed(0) : n.toFixed(2));
const cell = (s: Spread | undefined) => (s ? `${fmt(s.median)} [${fmt(s.min)}-${fmt(s.max)}]` : '');
// the peer columns appear only when a selected scenario has a peer
const peers = [...new Set(Object.values(results).flatMap((r) => (r.peer ? [r.peer] : [])))];
const peerHeaders = peers.length ? [`peer (${peers.join(', ')}) median [min-max]`, 'ratio to peer median [min-max]'] : [];
const rows: string[][] = [['scenario', 'figure', 'server median [min-max]', 'floor median [min-max]', 'ratio median [min-max]', ...peerHeaders, 'target', 'met']];
for (const r of Object.values(results)) {
  let first = true;
  for (const f of Object.values(r.figures)) {
    rows.push([
      first ? r.name : '',
      f.label,
      cell(f.server),
      cell(f.floor),
      cell(f.ratio),
      ...(peers.length ? [cell(f.peer), cell(f.peerRatio)] : []),
      first ? r.target : '',
      first ? (r.met === null ? '-' : r.met ? 'yes' : 'NO') : '',
    ]);
    first = false;
  }
}
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
console.log(`\n${rows.map((row) => row.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')).join('\n')}`);
console.log(`\n${Object.keys(results).length} scenario(s) in ${output.seconds} s; figures written to ${file.replace(/^.*\/bench\//, 'bench/')}`);
process.exit(failed ? 1 : 0);
