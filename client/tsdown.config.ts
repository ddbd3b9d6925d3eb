import { defineConfig, type UserConfig } from 'tsdown';

type Plugin = Extract<NonNullable<UserConfig['plugins']>, { name: string }>;

/**
 * The package is one ES module, so an app's bundler can drop what the app does not import only if
 * nothing at the module's top level looks like a side effect. Two kinds of top-level calls in
 * src/client/ have none but cannot be proven so by a bundler: the generated documents
 * (`new TypedDocumentString(…)`; the codegen client preset does not pass its `pureMagicComment`
 * option on) and the enum converters of enums.ts (`converter(…)`). They are marked
 * `/* @__PURE__ *\/` here, at build time. test/client-package-browser.test.ts checks the outcome
 * (a page importing one enum gets neither the documents nor graphql-ws), so a change of either
 * pattern fails there rather than silently.
 */
const PURE_CALLS: Array<{ file: RegExp; call: RegExp }> = [
  { file: /\/src\/client\/generated\/graphql\.ts$/, call: /= new TypedDocumentString\(/g },
  { file: /\/src\/client\/enums\.ts$/, call: /= converter(?=[<(])/g },
];
const markPure: Plugin = {
  name: 'mark-pure-top-level-calls',
  transform(code, id) {
    const rule = PURE_CALLS.find((r) => r.file.test(id.replaceAll('\\', '/')));
    if (!rule) return null;
    return { code: code.replace(rule.call, (match) => `= /* @__PURE__ */ ${match.slice(2)}`), map: null };
  },
};

// `npm run build:client`: src/client/index.ts → client/dist/index.js (ESM) + index.d.ts, for the
// package in this folder (@profile-hosting/client). graphql-ws stays an import (a dependency of the
// package, so the app's bundler dedupes it with its own); the types of
// @graphql-typed-document-node/core (types only, used by the generated operations) are inlined
// into index.d.ts, so the package needs nothing else.
export default defineConfig({
  cwd: import.meta.dirname,
  entry: { index: '../src/client/index.ts' },
  outDir: 'dist',
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  // the browser's globals only (no Node.js types): the declaration build fails on a Node.js API
  tsconfig: 'tsconfig.json',
  dts: true,
  deps: { onlyBundle: ['@graphql-typed-document-node/core'] },
  plugins: [markPure],
  sourcemap: true,
  clean: true,
  // keep .js/.d.ts (the default names .mjs/.d.mts files)
  fixedExtension: false,
});
