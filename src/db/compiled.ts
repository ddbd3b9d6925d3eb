import type { Compilable, CompiledQuery, Kysely } from 'kysely';
import type { Database } from './database.ts';

const MAX_SHAPES = 512;

/** Stands for argument `arg` (element `index` of it when it is an array) while a statement is compiled. */
class Slot {
  constructor(
    readonly arg: number,
    readonly index: number,
  ) {}
}

/**
 * A statement that Kysely builds and compiles once per shape (the lengths of its array arguments)
 * rather than on every call: building, transforming (CamelCasePlugin) and compiling the same
 * query cost about a tenth of a read request's CPU (BENCHMARKS.md). Results still go through the
 * plugins (rows come back camelCased).
 *
 * `build` must use its arguments only as values in the query: while it compiles they are
 * placeholders, and a placeholder used any other way (in a computation, a condition, a string)
 * is detected and refused.
 */
export function compiledStatement<Args extends unknown[], Row>(build: (db: Kysely<Database>, ...args: Args) => Compilable<Row>) {
  const byShape = new Map<string, CompiledQuery<Row>>();
  return async (db: Kysely<Database>, ...args: Args): Promise<Row[]> => {
    let shape = '';
    for (const arg of args) shape += Array.isArray(arg) ? `${arg.length},` : '.,';
    let compiled = byShape.get(shape);
    if (!compiled) {
      const slots = args.map((arg, i) => (Array.isArray(arg) ? arg.map((_, j) => new Slot(i, j)) : new Slot(i, -1)));
      compiled = build(db, ...(slots as Args)).compile();
      const used = new Set(compiled.parameters.filter((p) => p instanceof Slot)).size;
      const expected = slots.flat().length;
      if (used !== expected) throw new Error(`compiledStatement: the statement uses ${used} of its ${expected} argument values as parameters`);
      // shapes are few (array lengths are bounded by the API's limits); past the bound, compile each time
      if (byShape.size < MAX_SHAPES) byShape.set(shape, compiled);
    }
    const parameters = compiled.parameters.map((p) => (p instanceof Slot ? (p.index < 0 ? args[p.arg] : (args[p.arg] as unknown[])[p.index]) : p));
    const result = await db.executeQuery<Row>({ ...compiled, parameters });
    return result.rows;
  };
}
