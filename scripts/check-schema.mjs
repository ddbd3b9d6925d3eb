#!/usr/bin/env node
// npm run schema:check
// 1. schema.graphql must be what `npm run codegen` prints from the Pothos schema now, and
//    src/client/generated/ what it generates for the client SDK's operations (both regenerated
//    into a temporary folder, so the working tree is left alone);
// 2. it must keep the public API contract: ../shared/tools/contract-check.mjs, with shared/
//    sitting beside the repository (as it does for developers and in CI).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const committedPath = join(root, 'schema.graphql');
const CLIENT_OUTPUT = 'src/client/generated/';
const committedClientDir = join(root, CLIENT_OUTPUT);
const contractCheck = resolve(root, '..', 'shared', 'tools', 'contract-check.mjs');

function run(command, args) {
  return spawnSync(command, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function fail(message, details) {
  if (details) console.error(details.trimEnd());
  console.error(`schema:check failed: ${message}`);
  process.exit(1);
}

// --- 1. freshness -------------------------------------------------------------------------
const dir = mkdtempSync(join(tmpdir(), 'schema-check-'));
try {
  const generated = join(dir, 'schema.graphql');
  const generatedClientDir = join(dir, 'client') + '/';
  // the project's codegen.ts, with its outputs sent to the temporary folder
  const config = join(dir, 'codegen.ts');
  writeFileSync(
    config,
    [
      `import config from ${JSON.stringify(join(root, 'codegen.ts'))};`,
      `const outputs = config.generates as Record<string, unknown>;`,
      `const output = outputs['schema.graphql'];`,
      `const client = outputs[${JSON.stringify(CLIENT_OUTPUT)}];`,
      `if (!output) throw new Error('codegen.ts has no schema.graphql output');`,
      `if (!client) throw new Error('codegen.ts has no ${CLIENT_OUTPUT} output');`,
      `export default { ...config, generates: { ${JSON.stringify(generated)}: output, ${JSON.stringify(generatedClientDir)}: client } };`,
      '',
    ].join('\n'),
  );
  const codegen = run(process.execPath, ['--import', 'tsx', join(root, 'node_modules/@graphql-codegen/cli/cjs/bin.js'), '--config', config, '--silent']);
  if (codegen.status !== 0 || !existsSync(generated)) fail('could not print the schema with codegen', codegen.stdout + codegen.stderr);

  const committed = existsSync(committedPath) ? readFileSync(committedPath, 'utf8') : '';
  const fresh = readFileSync(generated, 'utf8');
  if (committed !== fresh) {
    const diff = run('git', ['diff', '--no-index', '--no-color', '--', committedPath, generated]);
    fail('schema.graphql is stale: run `npm run codegen` and commit schema.graphql', diff.stdout || diff.stderr);
  }
  console.log('schema.graphql is up to date with the Pothos schema');

  const files = (folder) => (existsSync(folder) ? readdirSync(folder).sort() : []);
  const freshFiles = files(generatedClientDir);
  if (freshFiles.length === 0) fail('codegen generated no client SDK types');
  const committedFiles = files(committedClientDir);
  const stale = [...new Set([...freshFiles, ...committedFiles])].filter((name) => {
    const a = join(committedClientDir, name);
    const b = join(generatedClientDir, name);
    return !existsSync(a) || !existsSync(b) || readFileSync(a, 'utf8') !== readFileSync(b, 'utf8');
  });
  if (stale.length) {
    const diff = run('git', ['diff', '--no-index', '--no-color', '--', committedClientDir, generatedClientDir]);
    fail(`${CLIENT_OUTPUT} is stale (${stale.join(', ')}): run \`npm run codegen\` and commit it`, diff.stdout || diff.stderr);
  }
  console.log(`${CLIENT_OUTPUT} is up to date with the schema and src/client/operations/`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// --- 2. contract ------------------------------------------------------------------------------
if (!existsSync(contractCheck)) fail(`${contractCheck} not found: the shared/ folder must sit beside the repository`);
// planned additions whose issue is done are required (test/helpers/contract-walk.ts lists the same)
const REQUIRED = ['07-events', '10-migration', '11-privacy'];
const contract = run(process.execPath, [contractCheck, 'schema.graphql', ...REQUIRED.flatMap((name) => ['--require', name])]);
process.stdout.write(contract.stdout);
process.stderr.write(contract.stderr);
if (contract.status !== 0) fail('schema.graphql does not keep ../shared/contract.graphql (differences above)');
console.log('schema:check passed');
