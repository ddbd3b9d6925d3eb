// npm run import -- --app <appKey> [--from-line N] <file.jsonl>
// Writes the profiles of a JSON Lines file (the shape `npm run export` writes, see
// src/profiles/portable.ts) into an app, through the same service as setUserProfiles: batches of
// 100 lines, each line all-or-nothing on its own, the missing users created, every written profile
// announced to its subscribers, friends and owner as setUserProfile's would be. Every line is an
// upsert: running the same file again writes the same profiles again and duplicates nothing.
// Works on DATABASE_URL or the embedded database under DATA_DIR (stop the server first on the
// embedded one), as `npm run seed` does.
//
// stdout: the refused lines (line number and why), then a summary. stderr: the progress bar.
// Exit code: 0 every line written; 3 some lines refused (the others are written); 2 a bad command
// line; 1 the import could not run or stopped (what was written up to then is said, with the
// --from-line to go on from); 130 interrupted (Ctrl-C: the batch in flight is finished first).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { findApp, listExtProfileKeys } from '../src/apps/repository.ts';
import { systemClock } from '../src/clock.ts';
import { createInProcessBus } from '../src/events/bus.ts';
import { EventLog } from '../src/events/log.ts';
import { parseProfileLine } from '../src/profiles/portable.ts';
import { UPSERTS_PER_CALL, upsertProfiles, type ProfileUpsert } from '../src/profiles/service.ts';
import { runCli, UsageError, withMigratedDatabase } from './cli-database.ts';
import { Progress } from './progress.ts';

const USAGE = `usage: npm run import -- --app <appKey> [--from-line <N>] <file.jsonl>
  one profile per line: {"userId":"u1","profile":{"name":"Ada","userExtProfile":[{"key":"k","value":"v"}]}}
  (the fields of AdminUserProfileInput; what npm run export writes), optionally beside "profile"
  the user's "visibility" and "fieldVisibility" (its per-field overrides). Blank lines are skipped.
  --from-line N   start at line N (1 = the first), e.g. to go on after an interrupted import`;

/** refused lines reported one by one; past this many only counted */
const REPORTED_MAX = 10_000;

interface Options {
  appKey: string;
  file: string;
  fromLine: number;
}

function parseOptions(): Options {
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({
      options: { app: { type: 'string' }, 'from-line': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const appKey = values.app as string | undefined;
  if (!appKey) throw new UsageError(`--app is required\n${USAGE}`);
  if (positionals.length !== 1) throw new UsageError(`give exactly one file to import${positionals.length ? ` (got ${positionals.length})` : ''}\n${USAGE}`);
  const from = (values['from-line'] as string | undefined) ?? '1';
  if (!/^[1-9]\d{0,9}$/.test(from)) throw new UsageError(`--from-line must be a line number from 1\n${USAGE}`);
  return { appKey, file: positionals[0]!, fromLine: Number(from) };
}

/** Lines of the file (a last line without a newline counts), read once for the progress bar. */
async function countLines(file: string): Promise<number> {
  let lines = 0;
  let last = 0x0a;
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) lines++;
    if (chunk.length) last = chunk[chunk.length - 1]!;
  }
  return last === 0x0a ? lines : lines + 1;
}

interface Refusal {
  line: number;
  reason: string;
}

await runCli('import', async () => {
  const options = parseOptions();
  const size = await stat(options.file).catch((error: NodeJS.ErrnoException) => {
    throw new Error(`cannot read ${options.file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`);
  });
  if (!size.isFile()) throw new Error(`cannot read ${options.file}: not a file`);

  await withMigratedDatabase(async (db, _applied, description) => {
    const app = await findApp(db, options.appKey);
    if (!app) throw new Error(`no app with appKey "${options.appKey}" on the ${description} (create one with npm run app:create)`);
    const extKeys = await listExtProfileKeys(db, options.appKey);
    // the events of what is written go to the event log like any write's; a running server's
    // relays deliver them from there (this process has no listeners of its own)
    const services = { db, clock: systemClock, events: new EventLog(db, systemClock, createInProcessBus()) };

    const totalLines = await countLines(options.file);
    const progress = new Progress('import', Math.max(0, totalLines - options.fromLine + 1));
    const started = Date.now();
    const refused: Refusal[] = [];
    let refusedCount = 0;
    let written = 0;
    let read = 0;
    const refuse = (line: number, reason: string) => {
      refusedCount++;
      if (refused.length < REPORTED_MAX) refused.push({ line, reason });
    };

    let stopping = false;
    const onInterrupt = () => {
      if (stopping) process.exit(130);
      stopping = true;
    };
    process.on('SIGINT', onInterrupt);

    let batch: { line: number; item: ProfileUpsert }[] = [];
    /** every line before it is done (written or refused) */
    let doneBefore = options.fromLine;
    const flush = async (upTo: number) => {
      if (batch.length) {
        const first = batch[0]!.line;
        let outcomes;
        try {
          outcomes = await upsertProfiles(services, options.appKey, batch.map((b) => b.item), extKeys);
        } catch (error) {
          throw new Error(
            `stopped at line ${first}: ${error instanceof Error ? error.message : String(error)}\n` +
              `lines ${options.fromLine}–${first - 1} are done (${written} written, ${refusedCount} refused); ` +
              `go on with: npm run import -- --app ${options.appKey} --from-line ${first} ${options.file}`,
          );
        }
        outcomes.forEach((outcome, i) => {
          if (outcome.error) {
            const { code, rcCode } = outcome.error.extensions;
            refuse(batch[i]!.line, `${code}${typeof rcCode === 'number' ? ` (RC ${rcCode})` : ''}: ${outcome.error.message}`);
          } else written++;
        });
        batch = [];
      }
      doneBefore = upTo;
      progress.set(doneBefore - options.fromLine);
    };

    const lines = createInterface({ input: createReadStream(options.file, { encoding: 'utf8' }), crlfDelay: Infinity });
    let lineNumber = 0;
    let interrupted = false;
    for await (const raw of lines) {
      lineNumber++;
      if (lineNumber < options.fromLine) continue;
      read++;
      const text = lineNumber === 1 ? raw.replace(/^\ufeff/, '') : raw;
      if (text.trim() !== '') {
        const parsed = parseProfileLine(text);
        if (parsed.ok) batch.push({ line: lineNumber, item: parsed.item });
        else refuse(lineNumber, `BAD_USER_INPUT: ${parsed.message}`);
      }
      if (batch.length >= UPSERTS_PER_CALL) {
        await flush(lineNumber + 1);
        if (stopping) {
          interrupted = true;
          break;
        }
      }
    }
    lines.close();
    if (!interrupted) await flush(lineNumber + 1);
    process.off('SIGINT', onInterrupt);

    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    refused.sort((a, b) => a.line - b.line);
    for (const r of refused) console.log(`line ${r.line}: refused, ${r.reason}`);
    if (refusedCount > refused.length) console.log(`… and ${refusedCount - refused.length} more refused lines (only the first ${REPORTED_MAX} are listed)`);
    console.log(`Imported ${options.file} into app "${app.name}" (${options.appKey}) on ${description} in ${seconds}s`);
    const numbers = refused.slice(0, 20).map((r) => r.line).join(', ');
    console.log(
      `lines: ${read} read from line ${options.fromLine}, ${written} written, ${refusedCount} refused` +
        (refusedCount ? ` (line${refusedCount > 1 ? 's' : ''} ${numbers}${refusedCount > 20 ? ', …' : ''})` : ''),
    );
    if (interrupted) {
      console.log(`interrupted: lines up to ${doneBefore - 1} are done; go on with: npm run import -- --app ${options.appKey} --from-line ${doneBefore} ${options.file}`);
      process.exitCode = 130;
    } else if (refusedCount) {
      console.log('the refused lines wrote nothing; fix them and run again (lines already written are written again, unchanged)');
      process.exitCode = 3;
    }
  });
});
