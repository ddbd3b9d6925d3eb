import type { CodegenConfig } from '@graphql-codegen/cli';

// `npm run codegen` writes two outputs from the Pothos schema (the same schema that
// schema.graphql prints; `npm run schema:check` keeps both fresh):
// 1. schema.graphql, sorted so that diffs stay small;
// 2. src/client/generated/: the client SDK's typed operations (client preset) from
//    src/client/operations/*.graphql, as plain strings (no graphql runtime in the client).
const config: CodegenConfig = {
  schema: './scripts/print-schema-source.ts',
  generates: {
    'schema.graphql': { plugins: ['schema-ast'], config: { includeDirectives: false, commentDescriptions: false, sort: true } },
    'src/client/generated/': {
      documents: ['src/client/operations/*.graphql'],
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        documentMode: 'string',
        enumsAsTypes: true,
        useTypeImports: true,
        emitLegacyCommonJSImports: false,
        skipTypename: false,
        scalars: { DateTime: 'string', ID: 'string' },
      },
    },
  },
  hooks: {},
};

export default config;
