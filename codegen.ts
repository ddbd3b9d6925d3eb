import type { CodegenConfig } from '@graphql-codegen/cli';

// Prints the Pothos schema (sorted, so that diffs stay small) to the committed schema.graphql.
const config: CodegenConfig = {
  schema: './scripts/print-schema-source.ts',
  generates: {
    'schema.graphql': { plugins: ['schema-ast'], config: { includeDirectives: false, commentDescriptions: false, sort: true } },
  },
  hooks: {},
};

export default config;
