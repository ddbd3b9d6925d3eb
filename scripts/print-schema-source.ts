// Schema source for codegen.ts: the schema built from the Pothos modules.
export { sortedSchema as default } from '../src/schema/index.ts';
